/**
 * DESIGN §6 "bad input gets a clear error, never a crash": a seeded fast-check fuzz run against the
 * edge's public ingress over real UDP, TCP, TLS (RFC 3261 §26.2.1, a throwaway openssl CA) and
 * WebSocket (RFC 7118, text and binary frames) sockets (the embedded system runs in this process,
 * so an exception escaping the edge would fail this file). Inputs are valid SIP messages with
 * byte- and header-level mutations, plus random bytes. Checked afterwards:
 * - every datagram the edge sent back is a SIP message (random bytes get only 4xx/5xx or nothing);
 * - the edge caught no unexpected exception (edgepath_sip_drops_total{reason="internal-error"} = 0);
 * - no TCP flow is left open once the fuzzer's connections are closed (GET /v1/flows);
 * - heap growth after a forced GC stays under a bound;
 * - a normal REGISTER still gets 200.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { makeTestPki, randomToken, sipStatus, sipText, TestUa, waitFor, type TestPki } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

const SEED = 0x5eed_0005;
const UDP_CASES = 3_000;
const TCP_CASES = 1_000;
/** A TLS handshake costs about a millisecond of CPU on each side: fewer cases, same mutations. */
const TLS_CASES = 300;
const WS_CASES = 600;
/** A run grows the heap by a few MiB (bindings from mutated REGISTERs, log-throttle keys); a leak per case would not fit. */
const HEAP_GROWTH_BOUND = 48 * 1024 * 1024;

let sys: EmbeddedSystem;
let pki: TestPki;
/** Sends mutated SIP; its Via names it, so answers come back here. */
let udp: UdpSocket;
/** Sends random bytes only. */
let udpGarbage: UdpSocket;
let udpPort = 0;
const udpReplies: Buffer[] = [];
const garbageReplies: Buffer[] = [];
/** What the edge wrote back on each fuzz TCP connection, concatenated. */
const tcpReplies: Buffer[] = [];
/** The same for TLS (decrypted). */
const tlsReplies: Buffer[] = [];
/** Every WebSocket message the edge sent back (RFC 7118 §5: one SIP message per frame). */
const wsReplies: Buffer[] = [];

async function udpSocket(into: Buffer[]): Promise<UdpSocket> {
  const u = createSocket("udp4");
  await new Promise<void>((resolve) => u.bind(0, "127.0.0.1", resolve));
  u.on("message", (m) => into.push(m));
  return u;
}

beforeAll(async () => {
  pki = makeTestPki();
  const cert = pki.issue("edge", "IP:127.0.0.1");
  sys = await startEmbedded({ EDGEPATH_TLS_CERT: cert.certFile, EDGEPATH_TLS_KEY: cert.keyFile }, { tls: true, ws: true });
  udp = await udpSocket(udpReplies);
  udpGarbage = await udpSocket(garbageReplies);
  udpPort = udp.address().port;
});
afterAll(async () => {
  udp?.close();
  udpGarbage?.close();
  await sys?.stop();
  pki?.remove();
});

// ---- inputs ----

function templates(): string[] {
  const via = `Via: SIP/2.0/UDP 127.0.0.1:${udpPort};branch=z9hG4bK${randomToken(4)};rport`;
  const common = (method: string, user: string): string[] => [
    via,
    "Max-Forwards: 70",
    `From: <sip:fuzz@example.com>;tag=${randomToken(3)}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: ${randomToken(6)}@fuzz`,
    `CSeq: 1 ${method}`,
  ];
  return [
    // Contacts point at the discard port: a mutated REGISTER must not make the edge call us back.
    sipText("REGISTER sip:example.com SIP/2.0", [...common("REGISTER", "fuzzreg"), "Contact: <sip:fuzzreg@127.0.0.1:9>;expires=60", "Supported: path, outbound"]),
    sipText("MESSAGE sip:nobody@example.com SIP/2.0", [...common("MESSAGE", "nobody"), "Content-Type: text/plain"], "hello fuzz"),
    sipText("OPTIONS sip:example.com SIP/2.0", [...common("OPTIONS", "x"), "Accept: application/sdp"]),
    sipText("INVITE sip:nobody@example.com SIP/2.0", [...common("INVITE", "nobody"), "Contact: <sip:fuzz@127.0.0.1:9>", "Content-Type: application/sdp"], "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"),
    sipText("BYE sip:nobody@example.com SIP/2.0", [...common("BYE", "nobody"), "Route: <sip:127.0.0.1;lr>", "Route: <sip:AAAA@127.0.0.1:5060;lr>"]),
    sipText("SIP/2.0 200 OK", [via.replace("z9hG4bK", "z9hG4bKep"), `From: <sip:a@example.com>;tag=1`, "To: <sip:b@example.com>;tag=2", "Call-ID: resp@fuzz", "CSeq: 1 INVITE"]),
  ];
}

const WEIRD = [
  "", " ", "\t", "-1", "0", "4294967296", "99999999999999999999999", "0x10", "1e3", "NaN", "%00", "\u0000", "\u00ff\u00fe",
  "a".repeat(3000), "<sip:", "<>", "sip:@", "sip:[::1", "[::1]:99999", ";;;;", ",,,,", "\"unterminated", "SIP/3.0",
  "<sip:a@b;lr>, <sip:c@d;lr>, <sip:e@f;lr>", "z9hG4bK", "sips:x@y;transport=ws", "sip:a@b:0", "*",
];
const HEADERS = ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Contact", "Route", "Expires", "Content-Type", "Path", "Require", "Proxy-Require", "v", "l", "m", "t", "f", "i"];

type Mutation =
  | { kind: "flip"; at: number; byte: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; len: number }
  | { kind: "truncate"; at: number }
  | { kind: "header"; name: string; value: string }
  | { kind: "dup-line"; at: number; times: number }
  | { kind: "eol"; to: "\n" | "\r" | "\r\r\n" | "" };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 48 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("header" as const), name: fc.constantFrom(...HEADERS), value: fc.oneof(fc.constantFrom(...WEIRD), fc.string({ maxLength: 40 })) }),
  fc.record({ kind: fc.constant("dup-line" as const), at: fc.nat(), times: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant("eol" as const), to: fc.constantFrom("\n" as const, "\r" as const, "\r\r\n" as const, "" as const) }),
);

function mutate(text: string, muts: readonly Mutation[]): Buffer {
  let b = Buffer.from(text, "utf8");
  for (const m of muts) {
    const at = b.length === 0 ? 0 : ("at" in m ? m.at % (b.length + 1) : 0);
    switch (m.kind) {
      case "flip":
        if (b.length > 0) {
          b = Buffer.from(b);
          b[at % b.length] = m.byte;
        }
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "header": {
        // Append a header line (or replace the first of that name) just before the blank line.
        const s = b.toString("latin1");
        const re = new RegExp(`^${m.name}\\s*:.*$`, "mi");
        const line = `${m.name}: ${m.value}`;
        const end = s.indexOf("\r\n\r\n");
        const out = re.test(s) ? s.replace(re, line) : end >= 0 ? `${s.slice(0, end)}\r\n${line}${s.slice(end)}` : `${s}\r\n${line}`;
        b = Buffer.from(out, "latin1");
        break;
      }
      case "dup-line": {
        const lines = b.toString("latin1").split("\r\n");
        const i = lines.length > 1 ? 1 + (at % (lines.length - 1)) : 0;
        const dup = Array<string>(m.times).fill(lines[i] ?? "");
        lines.splice(i, 0, ...dup);
        b = Buffer.from(lines.join("\r\n"), "latin1");
        break;
      }
      case "eol":
        b = Buffer.from(b.toString("latin1").replaceAll("\r\n", m.to), "latin1");
        break;
    }
  }
  return b;
}

const mutated: fc.Arbitrary<Buffer> = fc
  .tuple(fc.nat({ max: 5 }), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([i, muts]) => mutate(templates()[i]!, muts));
const garbage: fc.Arbitrary<Buffer> = fc.uint8Array({ minLength: 1, maxLength: 1500 }).map((u) => Buffer.from(u));

// ---- checks ----

const SIP_START = /^(SIP\/2\.0 [1-6]\d\d [^\r\n]*|[A-Z]+ \S+ SIP\/2\.0)\r\n/;

async function metric(name: string, reason: string): Promise<number> {
  const text = await (await fetch(`${sys.adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, "m").exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function openFlows(): Promise<number> {
  const body = (await (await fetch(`${sys.adminUrl}/v1/flows`)).json()) as { flows: unknown[] };
  return body.flows.length;
}

function sendUdp(from: UdpSocket, b: Buffer): Promise<void> {
  return new Promise((resolve) => from.send(b, sys.sipPort, "127.0.0.1", () => resolve()));
}

function edgeTcpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
}

/**
 * One TCP or TLS connection per case: the bytes in 1-3 chunks, then the connection is closed
 * (FIN, or abruptly when `rst`).
 */
async function sendStream(b: Buffer, splits: readonly number[], rst: boolean, secure: boolean): Promise<void> {
  const s: Socket = secure
    ? tlsConnect({ host: "127.0.0.1", port: sys.tlsPort!, ca: pki.ca })
    : connect({ host: "127.0.0.1", port: sys.sipPort });
  s.on("error", () => {});
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  s.once("close", () => {
    if (chunks.length > 0) (secure ? tlsReplies : tcpReplies).push(Buffer.concat(chunks));
  });
  await new Promise<void>((resolve) => {
    s.once(secure ? "secureConnect" : "connect", resolve);
    s.once("close", () => resolve());
  });
  let from = 0;
  for (const cut of [...splits.map((x) => x % (b.length + 1)).sort((x, y) => x - y), b.length]) {
    if (cut > from && !s.destroyed) s.write(b.subarray(from, cut));
    from = Math.max(from, cut);
  }
  // Let the edge read (and maybe answer) before we go.
  await new Promise((r) => setImmediate(r));
  // A TLSSocket has no resetAndDestroy (its handle is not a TCP handle): destroy() drops it
  // without close_notify, which is the abrupt case there.
  if (rst) {
    if (secure) s.destroy();
    else s.resetAndDestroy();
  } else s.end();
}

/**
 * One WebSocket per case (RFC 7118 §4.1 "sip" subprotocol): 1-3 messages, each the case's bytes
 * as a text frame (decoded as UTF-8 by the client, so invalid sequences become U+FFFD) or a binary
 * frame, then a close handshake or an abrupt drop.
 */
async function sendWs(b: Buffer, frames: readonly boolean[], abrupt: boolean): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${sys.wsPort!}`, ["sip"]);
  ws.on("error", () => {});
  ws.on("message", (d: Buffer) => wsReplies.push(Buffer.from(d)));
  const opened = await new Promise<boolean>((resolve) => {
    ws.once("open", () => resolve(true));
    ws.once("close", () => resolve(false));
  });
  if (!opened) return;
  for (const text of frames) ws.send(text ? b.toString("utf8") : b, { binary: !text });
  await new Promise((r) => setImmediate(r));
  if (abrupt) ws.terminate();
  else ws.close(1000);
  await new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.once("close", () => resolve());
  });
}

function gcNow(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

describe("fuzzing the edge's ingress (DESIGN §6)", () => {
  it("survives mutated SIP and random bytes over UDP, TCP, TLS and WebSocket: no crash, no leaked flow, bounded heap, REGISTER still works", async () => {
    const flowsBefore = await openFlows();
    const socketsBefore = edgeTcpSockets();
    gcNow();
    const heapBefore = process.memoryUsage().heapUsed;

    await fc.assert(fc.asyncProperty(garbage, async (b) => sendUdp(udpGarbage, b)), { seed: SEED, numRuns: UDP_CASES / 4 });
    await fc.assert(fc.asyncProperty(mutated, async (b) => sendUdp(udp, b)), { seed: SEED + 1, numRuns: (UDP_CASES * 3) / 4 });
    for (const [secure, seed, numRuns] of [[false, SEED + 2, TCP_CASES], [true, SEED + 3, TLS_CASES]] as const) {
      await fc.assert(
        fc.asyncProperty(fc.oneof(mutated, garbage), fc.array(fc.nat(), { maxLength: 2 }), fc.boolean(), async (b, splits, rst) => sendStream(b, splits, rst, secure)),
        { seed, numRuns },
      );
    }
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, garbage), fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }), fc.boolean(), async (b, frames, abrupt) => sendWs(b, frames, abrupt)),
      { seed: SEED + 4, numRuns: WS_CASES },
    );

    // Some of it reached the edge's parser on each stream transport and was answered there (most
    // cases close before the answer is written back: a run here got TCP 51, TLS 22, WS 97).
    expect(tcpReplies.length).toBeGreaterThanOrEqual(10);
    expect(tlsReplies.length).toBeGreaterThanOrEqual(10);
    expect(wsReplies.length).toBeGreaterThanOrEqual(10);
    // No connection of ours is left open at the edge (closed by us, or by the edge on a framing error).
    await waitFor(async () => ((await openFlows()) <= flowsBefore ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, what: "fuzz TCP, TLS and WS flows to close" });
    expect(await openFlows()).toBe(flowsBefore);
    await waitFor(() => (edgeTcpSockets() <= socketsBefore ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: "TCP sockets to be released" });
    // The edge caught no unexpected exception (the metric exists: other drop reasons are counted).
    expect(await metric("edgepath_sip_drops_total", "unparsable-bad-start-line")).toBeGreaterThan(0);
    expect(await metric("edgepath_sip_drops_total", "internal-error")).toBe(0);

    // Everything that came back is SIP; answers to random bytes are errors only (or nothing).
    expect(udpReplies.length).toBeGreaterThan(100);
    for (const r of [...udpReplies, ...tcpReplies, ...tlsReplies, ...wsReplies]) {
      const text = r.toString("latin1").replace(/^(\r\n)+/, "");
      if (text !== "" && !SIP_START.test(text)) throw new Error(`edge sent a non-SIP reply: ${JSON.stringify(text.slice(0, 200))}`);
    }
    for (const r of garbageReplies) expect(sipStatus(r.toString("latin1"))).toBeGreaterThanOrEqual(400);

    gcNow();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    expect(growth, `heap grew by ${(growth / 1048576).toFixed(1)} MiB`).toBeLessThan(HEAP_GROWTH_BOUND);

    // And the edge still does its job.
    await using ua = await TestUa.create({ transport: "udp" });
    const res = await ua.request(sipText("REGISTER sip:example.com SIP/2.0", [
      `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
      "Max-Forwards: 70",
      "From: <sip:afterfuzz@example.com>;tag=1",
      "To: <sip:afterfuzz@example.com>",
      `Call-ID: ${randomToken()}@after`,
      "CSeq: 1 REGISTER",
      `Contact: <sip:afterfuzz@${ua.hostport}>`,
      "Expires: 60",
    ]), { host: "127.0.0.1", port: sys.sipPort }, 10_000);
    expect(sipStatus(res)).toBe(200);
  }, 120_000);
});
