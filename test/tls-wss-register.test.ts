/**
 * REGISTER and MESSAGE over TLS (RFC 3261 §26.2.1) and over secure WebSocket (RFC 7118) through
 * the embedded system, with a throwaway CA and server certificate made by the openssl CLI at test
 * time. The WSS user agent behaves like a WebRTC phone (RFC 7118 §5 example): it cannot be reached
 * at its Contact address (`xxxx.invalid`), registers with +sip.instance and reg-id (RFC 5626), and
 * is reached only through the flow token in the Path the edge inserted.
 */
import { connect as tlsConnect } from "node:tls";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import {
  frameStream, makeTestPki, randomToken, sipBody, sipHeader, sipHeaders, sipStatus, sipText, TestUa, waitFor,
  type TestPki,
} from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, aorView as aorViewAt, isMessage, messageText, type AorView } from "./support/ua.js";

const SECRET = "e2e-test-secret-0123456789abcdef0123456789";
const codec = new FlowTokenCodec(SECRET);

// ---- minimal stream user agents: one SIP message per frame (WS) or Content-Length framing (TLS) ----

/** Received SIP messages with awaitable filters; shared by the TLS and the WSS user agent. */
class Inbox {
  readonly all: string[] = [];
  private readonly queue: string[] = [];
  private waiters: { filter: (m: string) => boolean; resolve: (m: string) => void }[] = [];

  push(m: string): void {
    this.all.push(m);
    const i = this.waiters.findIndex((w) => w.filter(m));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    else this.queue.push(m);
  }

  next(filter: (m: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const i = this.queue.findIndex(filter);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { filter, resolve: (m: string) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no matching SIP message within ${timeoutMs} ms; received: ${this.all.map((m) => m.split("\r\n")[0]).join(" | ")}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

interface StreamUa {
  readonly inbox: Inbox;
  send(text: string): void;
}

function responseFor(req: string) {
  const callId = sipHeader(req, "call-id");
  const cseq = sipHeader(req, "cseq");
  return (m: string): boolean => sipStatus(m) !== undefined && sipStatus(m)! >= 200 && sipHeader(m, "call-id") === callId && sipHeader(m, "cseq") === cseq;
}

async function request(ua: StreamUa, text: string): Promise<string> {
  const pending = ua.inbox.next(responseFor(text));
  ua.send(text);
  return pending;
}

async function tlsUa(port: number, ca: Buffer): Promise<StreamUa & { socket: TLSSocket }> {
  const socket = tlsConnect({ host: "127.0.0.1", port, ca });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  const inbox = new Inbox();
  let buf: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const f = frameStream(buf);
      buf = f.rest;
      if (f.message === undefined) break;
      inbox.push(f.message);
    }
  });
  return { socket, inbox, send: (t) => void socket.write(t) };
}

async function wssUa(port: number, ca: Buffer): Promise<StreamUa & { ws: WebSocket }> {
  // RFC 7118 §4.1: the client offers the "sip" WebSocket subprotocol.
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, ["sip"], { ca });
  const inbox = new Inbox();
  ws.on("message", (data: Buffer) => inbox.push(data.toString("utf8")));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.on("error", () => {});
  return { ws, inbox, send: (t) => ws.send(t) };
}

// ---- SIP helpers ----

const aorView = (user: string): Promise<AorView> => aorViewAt(sys.adminUrl, user);

/** The flow a Path URI's token names (the user part of our Path URI). */
function pathFlow(path: string): { transport: string; connectionId: number } {
  const uri = parseSipUri(parseNameAddr(path).uri);
  const decoded = codec.decode(uri.user ?? "");
  if (!decoded.ok) throw new Error(`Path flow token did not verify: ${decoded.reason}`);
  return decoded.flow;
}

let pki: TestPki;
let edgeCert: { certFile: string; keyFile: string };
let sys: EmbeddedSystem;

beforeAll(async () => {
  // A throwaway CA and an edge certificate for 127.0.0.1, made with the openssl CLI.
  pki = makeTestPki();
  edgeCert = pki.issue("edge", "IP:127.0.0.1,DNS:edge.example.com");
  sys = await startEmbedded({ EDGEPATH_TLS_CERT: edgeCert.certFile, EDGEPATH_TLS_KEY: edgeCert.keyFile }, { tls: true, wss: true });
}, 60_000);
afterAll(async () => {
  await sys?.stop();
  pki?.remove();
});

describe("SIP over TLS through the edge (RFC 3261 §26.2.1)", () => {
  it("RFC 3327 §5.2: REGISTER over TLS gets 200 with a Path naming the TLS flow", async () => {
    const ua = await tlsUa(sys.tlsPort!, pki.ca);
    try {
      const user = `tls-${randomToken(3)}`;
      const hp = `127.0.0.1:${ua.socket.localPort}`;
      const res = await request(ua, sipText("REGISTER sips:example.com SIP/2.0", [
        `Via: SIP/2.0/TLS ${hp};branch=z9hG4bK${randomToken()};rport`,
        "Max-Forwards: 70",
        `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
        `To: <sip:${user}@example.com>`,
        `Call-ID: ${randomToken()}@reg`,
        "CSeq: 1 REGISTER",
        `Contact: <sips:${user}@${hp};transport=tls>`,
        "Expires: 300",
        "Supported: path",
      ]));
      expect(sipStatus(res), res).toBe(200);
      const flow = pathFlow(sipHeader(res, "path")!);
      expect(flow.transport).toBe("tls");
      expect(flow.connectionId).toBeGreaterThan(0);
      const view = await aorView(user);
      expect(view.bindings).toHaveLength(1);
      expect(view.bindings[0]!.reachable).toBe(true);
    } finally {
      ua.socket.destroy();
    }
  });

  it("RFC 3428: MESSAGE both ways between a TLS user and a UDP user", async () => {
    const tlsUser = `tlsmsg-${randomToken(3)}`;
    const udpUser = `udpmsg-${randomToken(3)}`;
    const bob = await tlsUa(sys.tlsPort!, pki.ca);
    await using alice = await TestUa.create({ transport: "udp" });
    try {
      const bobHp = `127.0.0.1:${bob.socket.localPort}`;
      const reg = await request(bob, sipText("REGISTER sip:example.com SIP/2.0", [
        `Via: SIP/2.0/TLS ${bobHp};branch=z9hG4bK${randomToken()};rport`,
        "Max-Forwards: 70",
        `From: <sip:${tlsUser}@example.com>;tag=${randomToken(4)}`,
        `To: <sip:${tlsUser}@example.com>`,
        `Call-ID: ${randomToken()}@reg`,
        "CSeq: 1 REGISTER",
        `Contact: <sip:${tlsUser}@${bobHp};transport=tls>`,
        "Expires: 300",
        "Supported: path",
      ]));
      expect(sipStatus(reg), reg).toBe(200);
      const aliceReg = await alice.request(sipText("REGISTER sip:example.com SIP/2.0", [
        `Via: SIP/2.0/UDP ${alice.hostport};branch=z9hG4bK${randomToken()};rport`,
        "Max-Forwards: 70",
        `From: <sip:${udpUser}@example.com>;tag=${randomToken(4)}`,
        `To: <sip:${udpUser}@example.com>`,
        `Call-ID: ${randomToken()}@reg`,
        "CSeq: 1 REGISTER",
        `Contact: <sip:${udpUser}@${alice.hostport}>`,
        "Expires: 300",
      ]), { host: "127.0.0.1", port: sys.sipPort });
      expect(sipStatus(aliceReg)).toBe(200);

      // UDP -> TLS: delivered over Bob's TLS connection, our Via says TLS.
      const toBob = messageText(`SIP/2.0/UDP ${alice.hostport}`, udpUser, tlsUser, "hello over tls");
      const p1 = alice.request(toBob, { host: "127.0.0.1", port: sys.sipPort }, 10_000);
      const got = await bob.inbox.next(isMessage(sipHeader(toBob, "call-id")!));
      expect(sipBody(got)).toBe("hello over tls");
      expect(sipHeader(got, "via")).toMatch(/^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=/);
      bob.send(answer(got, 200, "OK"));
      expect(sipStatus(await p1)).toBe(200);

      // TLS -> UDP: Bob sends over his TLS connection, Alice answers, Bob gets the 200 on TLS.
      const toAlice = messageText(`SIP/2.0/TLS ${bobHp}`, tlsUser, udpUser, "reply over tls");
      const p2 = request(bob, toAlice);
      const m = await alice.nextMessage(isMessage(sipHeader(toAlice, "call-id")!), 10_000);
      expect(sipBody(m)).toBe("reply over tls");
      alice.send(answer(m, 200, "OK"), { host: "127.0.0.1", port: sys.sipPort });
      const res = await p2;
      expect(sipStatus(res)).toBe(200);
      expect(sipHeaders(res, "via")).toHaveLength(1);
    } finally {
      bob.socket.destroy();
    }
  });
});

describe("SIP over secure WebSocket through the edge (RFC 7118)", () => {
  /** RFC 7118 §5 example REGISTER: Via and Contact hosts under .invalid, outbound (RFC 5626 §4.2). */
  function webrtcRegister(user: string, host: string, instance: string, cseq = 1, expires = 300): string {
    return sipText("REGISTER sip:example.com SIP/2.0", [
      `Via: SIP/2.0/WSS ${host};branch=z9hG4bK${randomToken()}`,
      "Max-Forwards: 70",
      `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
      `To: <sip:${user}@example.com>`,
      `Call-ID: ${randomToken()}@${host}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@${host};transport=ws>;reg-id=1;+sip.instance="<urn:uuid:${instance}>"`,
      `Expires: ${expires}`,
      "Supported: path, outbound, gruu",
    ]);
  }

  it("RFC 7118 §5 / RFC 5626: a WebRTC-style REGISTER (.invalid Contact, +sip.instance, reg-id) gets 200 with an outbound Path", async () => {
    const phone = await wssUa(sys.wssPort!, pki.ca);
    try {
      expect(phone.ws.protocol).toBe("sip");
      const user = `webrtc-${randomToken(3)}`;
      const res = await request(phone, webrtcRegister(user, `${randomToken(5)}.invalid`, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
      expect(sipStatus(res), res).toBe(200);
      const path = sipHeader(res, "path")!;
      // RFC 5626 §5.1: the edge is the outbound edge proxy for this flow.
      expect(parseSipUri(parseNameAddr(path).uri).params.has("ob")).toBe(true);
      expect(pathFlow(path).transport).toBe("wss");
      expect(sipHeaders(res, "require").join(",")).toMatch(/outbound/);
      const view = await aorView(user);
      expect(view.bindings).toHaveLength(1);
      expect(view.bindings[0]!.contact).toContain(".invalid");
    } finally {
      phone.ws.terminate();
    }
  });

  it("RFC 7118 §5: a MESSAGE from a UDP user reaches the WSS phone through the flow token; the 200 returns", async () => {
    const user = `webrtcmsg-${randomToken(3)}`;
    const host = `${randomToken(5)}.invalid`;
    const phone = await wssUa(sys.wssPort!, pki.ca);
    await using alice = await TestUa.create({ transport: "udp" });
    try {
      expect(sipStatus(await request(phone, webrtcRegister(user, host, "0d3c2b1a-0000-4000-8000-000000000001")))).toBe(200);
      const text = messageText(`SIP/2.0/UDP ${alice.hostport}`, "alice", user, "hello webrtc");
      const pending = alice.request(text, { host: "127.0.0.1", port: sys.sipPort }, 10_000);
      const got = await phone.inbox.next(isMessage(sipHeader(text, "call-id")!));
      // The Request-URI is the registered .invalid contact; no one resolved it.
      expect(got).toMatch(new RegExp(`^MESSAGE sip:${user}@${host.replace(".", "\\.")};transport=ws SIP/2\\.0\r\n`));
      expect(sipHeader(got, "via")).toMatch(/^SIP\/2\.0\/WSS 127\.0\.0\.1:\d+;branch=/);
      expect(sipBody(got)).toBe("hello webrtc");
      phone.send(answer(got, 200, "OK"));
      const res = await pending;
      expect(sipStatus(res)).toBe(200);
    } finally {
      phone.ws.terminate();
    }
  });

  it("RFC 5626 §5.3 / DESIGN §3: once the WebSocket closes the binding is unreachable and a MESSAGE fails fast with 480", async () => {
    const user = `webrtcgone-${randomToken(3)}`;
    const phone = await wssUa(sys.wssPort!, pki.ca);
    await using alice = await TestUa.create({ transport: "udp" });
    expect(sipStatus(await request(phone, webrtcRegister(user, `${randomToken(5)}.invalid`, "0d3c2b1a-0000-4000-8000-000000000002")))).toBe(200);
    const closed = new Promise((resolve) => phone.ws.once("close", resolve));
    phone.ws.close(1000);
    await closed;
    await waitFor(async () => ((await aorView(user)).bindings[0]?.reachable === false ? true : undefined), {
      timeoutMs: 10_000, intervalMs: 50, what: "binding marked unreachable after the WebSocket closed",
    });
    const view = await aorView(user);
    expect(view.bindings[0]!.reason).toMatch(/flow-failed/);
    const res = await alice.request(messageText(`SIP/2.0/UDP ${alice.hostport}`, "alice", user, "anyone?"), { host: "127.0.0.1", port: sys.sipPort }, 8000);
    expect(sipStatus(res)).toBe(480);
  });
});
