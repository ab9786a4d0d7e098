import { once } from "node:events";
import { copyFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RecordingDelegate, sipRequest } from "./test-support.js";
import { makeTestPki } from "@edgepath/testkit";
import type { TestPki } from "@edgepath/testkit";
import { TransportLayer } from "./transport-layer.js";
import type { TlsSettings, TransportLimits } from "./types.js";

let pki: TestPki;
let edge: { certFile: string; keyFile: string };
beforeAll(() => {
  pki = makeTestPki();
  edge = pki.issue("edge", "IP:127.0.0.1,IP:::1,DNS:edge.example.com");
});
afterAll(() => pki.remove());

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tlsLayer(opts: { limits?: Partial<TransportLimits>; tls?: Partial<TlsSettings> } = {}) {
  const delegate = new RecordingDelegate();
  const layer = new TransportLayer({
    listen: [{ transport: "tls", host: "127.0.0.1", port: 0 }],
    delegate,
    tls: { ...edge, caFile: pki.caFile, ...opts.tls },
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const [bound] = await layer.start();
  cleanups.push(() => layer.stop());
  return { layer, delegate, port: bound!.port };
}

async function dialTls(port: number, servername?: string): Promise<TLSSocket> {
  const s = tlsConnect({ host: "127.0.0.1", port, ca: pki.ca, ...(servername !== undefined ? { servername } : {}) });
  s.on("error", () => {});
  cleanups.push(() => void s.destroy());
  await once(s, "secureConnect");
  return s;
}

async function dialRaw(port: number): Promise<Socket> {
  const s = netConnect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  cleanups.push(() => void s.destroy());
  await once(s, "connect");
  return s;
}

function received(s: Socket, text: string): Promise<string> {
  let acc = "";
  return new Promise((resolve) => {
    const on = (c: Buffer): void => {
      acc += c.toString("latin1");
      if (acc.includes(text)) {
        s.off("data", on);
        resolve(acc);
      }
    };
    s.on("data", on);
  });
}

describe("TLS transport (RFC 3261 §26.2.1)", () => {
  it("RFC 3261 §18.3: a TLS listener frames messages like TCP and answers on the same flow", async () => {
    const { layer, delegate, port } = await tlsLayer();
    const s = await dialTls(port);
    s.write(sipRequest("tls-1", "hello"));
    const m = await delegate.waitFor("message");
    expect(m.bytes.toString("latin1")).toContain("Call-ID: tls-1");
    expect(m.flow).toMatchObject({ transport: "tls", remoteAddress: "127.0.0.1", remotePort: s.localPort, localPort: port });
    expect(m.flow.id).toBeGreaterThan(0);
    const answer = received(s, "SIP/2.0 200 OK");
    expect(layer.sendOnFlow(Buffer.from("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), m.flow).ok).toBe(true);
    await answer;
    expect(layer.stats().flowsByTransport["tls"]).toBe(1);
  });

  it("RFC 5626 §4.4.1: a double-CRLF ping over TLS gets a CRLF pong", async () => {
    const { delegate, port } = await tlsLayer();
    const s = await dialTls(port);
    const pong = received(s, "\r\n");
    s.write("\r\n\r\n");
    await delegate.waitFor("keepalive");
    expect(await pong).toBe("\r\n");
  });

  it("send() opens an outbound TLS connection verified against the CA, and reuses it (RFC 3261 §18.1.1)", async () => {
    const server = await tlsLayer();
    const client = await tlsLayer();
    const target = { transport: "tls", address: "127.0.0.1", port: server.port } as const;
    const r1 = client.layer.send(sipRequest("out-1"), target);
    expect(r1.ok).toBe(true);
    await server.delegate.waitFor("message", (e) => e.bytes.includes("out-1"));
    const r2 = client.layer.send(sipRequest("out-2"), target);
    await server.delegate.waitFor("message", (e) => e.bytes.includes("out-2"));
    expect(r1.ok && r2.ok && r1.flow.id === r2.flow.id).toBe(true);
    const opened = await client.delegate.waitFor("opened");
    expect(opened.flow).toMatchObject({ transport: "tls", remotePort: server.port });
    expect(client.layer.flows()).toHaveLength(1);
  });

  it("RFC 5922 §7.2: outbound TLS checks the certificate against serverName when given", async () => {
    const named = pki.issue("named", "DNS:sip.example.net");
    const server = await tlsLayer({ tls: named });
    const client = await tlsLayer();
    // The certificate names sip.example.net, not 127.0.0.1: without a serverName it must fail ...
    const bad = client.layer.send(sipRequest("by-ip"), { transport: "tls", address: "127.0.0.1", port: server.port });
    expect(bad.ok).toBe(true);
    const closed = await client.delegate.waitFor("closed");
    expect(closed.reason).toBe("error");
    expect(server.delegate.of("message")).toHaveLength(0);
    // ... and succeed when the caller says which name it resolved.
    const good = client.layer.send(sipRequest("by-name"), { transport: "tls", address: "127.0.0.1", port: server.port, serverName: "sip.example.net" });
    expect(good.ok).toBe(true);
    await server.delegate.waitFor("message", (e) => e.bytes.includes("by-name"));
  });

  it("outbound TLS refuses a server whose certificate is not from the CA", async () => {
    const rogue = pki.selfSigned("rogue", "IP:127.0.0.1");
    const server = await tlsLayer({ tls: rogue });
    const client = await tlsLayer();
    client.layer.send(sipRequest("to-rogue"), { transport: "tls", address: "127.0.0.1", port: server.port });
    const closed = await client.delegate.waitFor("closed");
    expect(closed.reason).toBe("error");
    expect(closed.flow.transport).toBe("tls");
    expect(server.delegate.of("message")).toHaveLength(0);
  });

  it("reloads the certificate when the files change; a bad replacement keeps the old one (and is reported)", async () => {
    const files = { certFile: `${pki.dir}/live.crt`, keyFile: `${pki.dir}/live.key` };
    copyFileSync(edge.certFile, files.certFile);
    copyFileSync(edge.keyFile, files.keyFile);
    const { delegate, port } = await tlsLayer({ tls: { ...files, reloadIntervalMs: 50 } });
    const reloads = delegate.tlsReloads;
    const first = await dialTls(port);
    expect(first.getPeerCertificate().subject.CN).toBe("edge");

    const next = pki.issue("edge-renewed", "IP:127.0.0.1");
    copyFileSync(next.keyFile, files.keyFile);
    copyFileSync(next.certFile, files.certFile);
    await waitUntil(() => reloads.some((r) => r.ok));
    const second = await dialTls(port);
    expect(second.getPeerCertificate().subject.CN).toBe("edge-renewed");

    // A key that does not match the certificate: reported, and the renewed certificate stays.
    const other = pki.issue("other", "IP:127.0.0.1");
    copyFileSync(other.keyFile, files.keyFile);
    await waitUntil(() => reloads.some((r) => !r.ok));
    const third = await dialTls(port);
    expect(third.getPeerCertificate().subject.CN).toBe("edge-renewed");
  });

  it("DESIGN §6: a stalled TLS handshake is cut at the header-read timeout and frees its connection slot", async () => {
    const { delegate, port } = await tlsLayer({ limits: { headerReadTimeoutMs: 200, maxConnectionsPerIp: 1 } });
    const raw = await dialRaw(port);
    const closed = new Promise((resolve) => raw.once("close", resolve));
    await delegate.waitFor("drop", (e) => e.reason === "tls-handshake-timeout", 10_000);
    await closed;
    // The slot was released: a real client now gets in under a per-IP cap of 1.
    const s = await waitForValue(() => dialTls(port));
    s.write(sipRequest("after-timeout"));
    await delegate.waitFor("message", (e) => e.bytes.includes("after-timeout"));
  });

  it("DESIGN §6: the per-IP cap refuses a TLS connection before its handshake while the first keeps working", async () => {
    const { delegate, port } = await tlsLayer({ limits: { maxConnectionsPerIp: 1 } });
    const ok = await dialTls(port);
    const refused = tlsConnect({ host: "127.0.0.1", port, ca: pki.ca });
    refused.on("error", () => {});
    cleanups.push(() => void refused.destroy());
    await new Promise((resolve) => refused.once("close", resolve)); // once() would reject on the reset's 'error'

    const drop = await delegate.waitFor("drop", (e) => e.reason === "connection-limit");
    expect(drop.flow.transport).toBe("tls");
    ok.write(sipRequest("still-ok"));
    await delegate.waitFor("message", (e) => e.bytes.includes("still-ok"));
  });

  it("DESIGN §6: after the handshake, an incomplete message is cut at the header-read timeout (slowloris)", async () => {
    const { delegate, port } = await tlsLayer({ limits: { headerReadTimeoutMs: 200 } });
    const s = await dialTls(port);
    s.write("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1");
    const closed = await delegate.waitFor("closed", () => true, 10_000);
    expect(closed.reason).toBe("header-timeout");
    expect(closed.flow.transport).toBe("tls");
  });
});

async function waitUntil(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Retries `fn` until it resolves (the freed slot is released on the server's 'close', a moment after ours). */
async function waitForValue<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
