import { once } from "node:events";
import { request } from "node:http";
import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { RecordingDelegate, sipRequest } from "./test-support.js";
import { makeTestPki } from "@edgepath/testkit";
import type { TestPki } from "@edgepath/testkit";
import { TransportLayer } from "./transport-layer.js";
import type { TransportLimits } from "./types.js";

let pki: TestPki;
let edge: { certFile: string; keyFile: string };
beforeAll(() => {
  pki = makeTestPki();
  edge = pki.issue("edge", "IP:127.0.0.1,DNS:edge.example.com");
});
afterAll(() => pki.remove());

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function wsLayer(transport: "ws" | "wss" = "ws", limits?: Partial<TransportLimits>) {
  const delegate = new RecordingDelegate();
  const layer = new TransportLayer({
    listen: [{ transport, host: "127.0.0.1", port: 0 }],
    delegate,
    ...(transport === "wss" ? { tls: { ...edge, caFile: pki.caFile } } : {}),
    ...(limits ? { limits } : {}),
  });
  const [bound] = await layer.start();
  cleanups.push(() => layer.stop());
  return { layer, delegate, port: bound!.port };
}

/** A WebRTC-style client: subprotocol "sip" (RFC 7118 §4.1). */
async function dialWs(url: string, protocols: string[] = ["sip"]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { ca: pki.ca });
  ws.on("error", () => {});
  cleanups.push(() => ws.terminate());
  await once(ws, "open");
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ text: string; binary: boolean }> {
  return new Promise((resolve) => ws.once("message", (data: Buffer, binary: boolean) => resolve({ text: data.toString("utf8"), binary })));
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code: number) => resolve(code)));
}

async function dialRaw(port: number): Promise<Socket> {
  const s = netConnect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  cleanups.push(() => void s.destroy());
  await once(s, "connect");
  return s;
}

describe("WebSocket transport (RFC 7118)", () => {
  it("RFC 7118 §5: one SIP message per WebSocket message, answered on the same flow as a text frame", async () => {
    const { layer, delegate, port } = await wsLayer();
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    expect(ws.protocol).toBe("sip");
    ws.send(sipRequest("ws-1", "body"));
    const m = await delegate.waitFor("message");
    expect(m.bytes.toString("latin1")).toContain("Call-ID: ws-1");
    expect(m.flow).toMatchObject({ transport: "ws", remoteAddress: "127.0.0.1", localPort: port });
    expect(m.flow.id).toBeGreaterThan(0);
    const reply = nextMessage(ws);
    expect(layer.sendOnFlow(Buffer.from("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"), m.flow).ok).toBe(true);
    expect(await reply).toEqual({ text: "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", binary: false });
    expect(layer.stats().flowsByTransport["ws"]).toBe(1);
    // send() by address finds the client's own connection (RFC 7118 §5: we cannot open one to it).
    const again = nextMessage(ws);
    const r = layer.send(Buffer.from("MESSAGE x"), { transport: "ws", address: "127.0.0.1", port: m.flow.remotePort });
    expect(r.ok && r.flow.id === m.flow.id).toBe(true);
    expect((await again).text).toBe("MESSAGE x");
    expect(layer.send(Buffer.from("x"), { transport: "ws", address: "127.0.0.1", port: 1 })).toEqual({ ok: false, reason: "unsupported-transport" });
  });

  it("RFC 7118 §5: a SIP message without Content-Length is delivered whole (the frame delimits it)", async () => {
    const { delegate, port } = await wsLayer();
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    const text = "OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKa\r\nCall-ID: no-cl\r\n\r\n";
    ws.send(text);
    const m = await delegate.waitFor("message");
    expect(m.bytes.toString("utf8")).toBe(text);
  });

  it("WSS: the same over TLS, flow transport wss", async () => {
    const { layer, delegate, port } = await wsLayer("wss");
    const ws = await dialWs(`wss://127.0.0.1:${port}`);
    ws.send(sipRequest("wss-1"));
    const m = await delegate.waitFor("message");
    expect(m.flow.transport).toBe("wss");
    const reply = nextMessage(ws);
    layer.sendOnFlow(Buffer.from("SIP/2.0 200 OK\r\n\r\n"), m.flow);
    expect((await reply).text).toBe("SIP/2.0 200 OK\r\n\r\n");
  });

  /** Status of an upgrade the server refused (ws emits "unexpected-response"). */
  async function refusedStatus(port: number, protocols: string[], origin?: string): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols, origin !== undefined ? { origin } : {});
    ws.on("error", () => {});
    cleanups.push(() => ws.terminate());
    const [, res] = (await once(ws, "unexpected-response")) as [unknown, { statusCode: number }];
    return res.statusCode;
  }

  it("RFC 7118 §4.1: an upgrade without the sip subprotocol is refused with 400", async () => {
    const { delegate, port, layer } = await wsLayer();
    expect(await refusedStatus(port, ["chat"])).toBe(400);
    await delegate.waitFor("drop", (e) => e.reason === "ws-no-sip-protocol");
    expect(layer.flows()).toHaveLength(0);
  });

  it("RFC 6455 §10.2: with allowed origins set, a browser from another origin gets 403; listed origins and native clients connect", async () => {
    const { delegate, port, layer } = await wsLayer("ws", { wsAllowedOrigins: ["https://app.example.com"] });
    expect(await refusedStatus(port, ["sip"], "https://evil.example.net")).toBe(403);
    await delegate.waitFor("drop", (e) => e.reason === "ws-origin");
    expect(layer.flows()).toHaveLength(0);
    // The listed origin (case-insensitive scheme/host) and a client sending no Origin both get in.
    const good = new WebSocket(`ws://127.0.0.1:${port}`, ["sip"], { origin: "https://APP.example.com" });
    good.on("error", () => {});
    cleanups.push(() => good.terminate());
    await once(good, "open");
    await dialWs(`ws://127.0.0.1:${port}`);
    good.send(sipRequest("origin-ok"));
    expect((await delegate.waitFor("message")).bytes.toString("latin1")).toContain("Call-ID: origin-ok");
    expect(layer.flows()).toHaveLength(2);
  });

  it("RFC 6455 §4.2.2: a plain HTTP request gets 426 Upgrade Required", async () => {
    const { delegate, port } = await wsLayer();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(426);
    await delegate.waitFor("drop", (e) => e.reason === "ws-not-upgrade");
  });

  it("RFC 5626 §4.4.1: a CRLF-CRLF WebSocket message is a keepalive answered with CRLF", async () => {
    const { delegate, port } = await wsLayer();
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    const pong = nextMessage(ws);
    ws.send("\r\n\r\n");
    await delegate.waitFor("keepalive");
    expect((await pong).text).toBe("\r\n");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("a message over maxMessageBytes closes the connection with 1009 and is reported", async () => {
    const { delegate, port } = await wsLayer("ws", { maxMessageBytes: 1000 });
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    const code = closeOf(ws);
    ws.send(sipRequest("big", "x".repeat(2000)));
    expect(await code).toBe(1009);
    await delegate.waitFor("drop", (e) => e.reason === "too-large");
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("error");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("RFC 5626: a client closing its WebSocket ends the flow; sendOnFlow then says flow-gone", async () => {
    const { layer, delegate, port } = await wsLayer();
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    const opened = await delegate.waitFor("opened");
    ws.close(1000);
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("remote-close");
    expect(closed.flow.id).toBe(opened.flow.id);
    expect(layer.sendOnFlow(Buffer.from("x"), opened.flow)).toEqual({ ok: false, reason: "flow-gone" });
  });

  it("DESIGN §6: an HTTP upgrade that never completes is cut at the header-read timeout and frees its slot", async () => {
    const { delegate, port } = await wsLayer("ws", { headerReadTimeoutMs: 200, maxConnectionsPerIp: 1 });
    const raw = await dialRaw(port);
    const closed = new Promise((resolve) => raw.once("close", resolve));
    raw.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n");
    await delegate.waitFor("drop", (e) => e.reason === "header-timeout", 10_000);
    await closed;
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    ws.send(sipRequest("after"));
    await delegate.waitFor("message", (e) => e.bytes.includes("after"));
  });

  it("DESIGN §6: a WebSocket frame left incomplete is cut at the header-read timeout (slowloris)", async () => {
    const { delegate, port } = await wsLayer("ws", { headerReadTimeoutMs: 200 });
    const ws = await dialWs(`ws://127.0.0.1:${port}`);
    const socket = (ws as unknown as { _socket: Socket })._socket;
    // A masked text frame header announcing 100 bytes, then only 3 of them.
    socket.write(Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4, 0x41, 0x42, 0x43]));
    const closed = await delegate.waitFor("closed", () => true, 10_000);
    expect(closed.reason).toBe("header-timeout");
  });

  it("DESIGN §6: an idle WebSocket is closed with reason idle-timeout", async () => {
    const { delegate, port } = await wsLayer("ws", { idleTimeoutMs: 200 });
    await dialWs(`ws://127.0.0.1:${port}`);
    const closed = await delegate.waitFor("closed", () => true, 10_000);
    expect(closed.reason).toBe("idle-timeout");
  });

  it("DESIGN §6: the per-IP cap refuses a WebSocket before the upgrade while the first keeps working", async () => {
    const { delegate, port } = await wsLayer("ws", { maxConnectionsPerIp: 1 });
    const first = await dialWs(`ws://127.0.0.1:${port}`);
    const second = new WebSocket(`ws://127.0.0.1:${port}`, ["sip"]);
    second.on("error", () => {});
    cleanups.push(() => second.terminate());
    await new Promise((resolve) => second.once("close", resolve));
    const drop = await delegate.waitFor("drop", (e) => e.reason === "connection-limit");
    expect(drop.flow.transport).toBe("ws");
    first.send(sipRequest("first-still-ok"));
    await delegate.waitFor("message", (e) => e.bytes.includes("first-still-ok"));
  });
});

describe("TransportLayer.stop() with TLS and WebSocket listeners", () => {
  it("closes every WebSocket and TLS connection and listener: onFlowClosed local-close, clients see the close", async () => {
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({
      listen: [
        { transport: "ws", host: "127.0.0.1", port: 0 },
        { transport: "wss", host: "127.0.0.1", port: 0 },
        { transport: "tls", host: "127.0.0.1", port: 0 },
      ],
      delegate,
      tls: { ...edge, caFile: pki.caFile },
    });
    const [ws, wss] = await layer.start();
    const a = await dialWs(`ws://127.0.0.1:${ws!.port}`);
    const b = await dialWs(`wss://127.0.0.1:${wss!.port}`);
    await delegate.waitFor("opened", (e) => e.flow.transport === "wss");
    const aClosed = closeOf(a);
    const bClosed = closeOf(b);
    await layer.stop();
    await Promise.all([aClosed, bClosed]);
    expect(delegate.of("closed").map((e) => e.reason)).toEqual(["local-close", "local-close"]);
    expect(layer.flows()).toHaveLength(0);
    await expect(dialWs(`ws://127.0.0.1:${ws!.port}`)).rejects.toThrow();
  });
});
