/**
 * Bytes held per transaction that waits out its RFC 3261 §17 wait timer (issue 7: worker RSS grows
 * under REGISTER load because every UDP non-INVITE server transaction stays in Completed for
 * Timer J = 64*T1 = 32 s).
 *
 * Drives N REGISTERs (the shape a worker receives from an edge: two Vias, Path with a flow token,
 * the edge's source stamp, RFC 5626 Contact) through a real TransactionLayer with Node timers,
 * answers each with a 200 carrying the Contact and Path the way the registrar does, and reads the
 * heap and ArrayBuffer bytes after a full GC while all N transactions sit in Completed. Also
 * measures N non-INVITE client transactions in Completed (Timer K).
 *
 *   pnpm --filter @edgepath/bench tx-memory [--count 50000]
 *
 * Needs `--expose-gc` (the package script passes it). Prints numbers, asserts nothing.
 */
import { parseArgs } from "node:util";
import { buildResponse, parseMessage } from "@edgepath/sip";
import type { SipRequest } from "@edgepath/sip";
import { TransactionLayer } from "@edgepath/transactions";
import type { ClientTransactionUser, SendTarget } from "@edgepath/transactions";

const gc = (globalThis as { gc?: () => void }).gc;

function register(i: number): string {
  return [
    `REGISTER sip:example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-edge-${i.toString(36)}-a8f3c1;ft=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw`,
    `Via: SIP/2.0/UDP 192.0.2.33:5060;received=192.0.2.33;rport=5060;branch=z9hG4bK-ua-${i}-77`,
    `Max-Forwards: 69`,
    `From: <sip:bench${i}@example.com>;tag=${i}SIPpTag001`,
    `To: <sip:bench${i}@example.com>`,
    `Call-ID: ${i}-1234@192.0.2.33`,
    `CSeq: 1 REGISTER`,
    `Contact: <sip:bench${i}@192.0.2.33:5060;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-${i.toString(16).padStart(12, "0")}>";reg-id=1`,
    `Path: <sip:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8@10.0.0.2:5070;lr;ob>`,
    `Supported: path, outbound`,
    `Expires: 3600`,
    `User-Agent: sipp bench`,
    `X-Edgepath-Source: 192.0.2.33;sig=AAECAwQFBgcICQoL`,
    `Content-Length: 0`,
    ``,
    ``,
  ].join("\r\n");
}

function parseRequest(text: string): SipRequest {
  // A datagram arrives in its own buffer (not a slice of a shared pool).
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text, "latin1");
  const parsed = parseMessage(bytes);
  if (!parsed.ok || parsed.message.kind !== "request") throw new Error("bench REGISTER does not parse");
  return parsed.message;
}

interface Memory { heap: number; buffers: number; rss: number }

function measure(): Memory {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers, rss: m.rss };
}

function perItem(before: Memory, after: Memory, n: number): string {
  const f = (b: number): string => `${Math.round(b / n).toLocaleString("en-US")} B`;
  return `heap ${f(after.heap - before.heap)}, buffers ${f(after.buffers - before.buffers)}, ` +
    `total ${f(after.heap - before.heap + after.buffers - before.buffers)} (rss ${f(after.rss - before.rss)})`;
}

function main(): void {
  if (gc === undefined) throw new Error("run with node --expose-gc (pnpm --filter @edgepath/bench tx-memory)");
  const { values } = parseArgs({ options: { count: { type: "string", default: "50000" } } });
  const n = Number(values.count);
  const sent: number[] = [0];
  const sender = { send: (b: Buffer): void => { sent[0]! += b.length; }, reliable: (): boolean => false };
  const source: SendTarget = { transport: "udp", address: "10.0.0.2", port: 5070 };

  // Server side: REGISTER -> 200 OK -> Completed, Timer J (32 s).
  const layer = new TransactionLayer({ sender });
  let transientBytes = 0;
  const before = measure();
  for (let i = 0; i < n; i++) {
    const text = register(i);
    const req = parseRequest(text);
    // The worker makes other small Buffers per request (the store and bus writes, log lines) from the
    // same shared pool as the response; they die at once, but a held view of the response into that
    // pool would pin their slab (the transaction keeps a copy in its retransmission slab instead).
    transientBytes += Buffer.from(text, "latin1").length;
    const d = layer.handleRequest(req, source);
    if (d.kind !== "new") throw new Error(`unexpected ${d.kind}`);
    d.tx.respond(200, buildResponse(req, 200, "OK", {
      toTag: `t${i}`,
      headers: [["Contact", `${req.header("contact") ?? ""};expires=3600`], ["Path", req.header("path") ?? ""], ["Supported", "path, outbound"]],
    }));
  }
  const held = measure();
  const states = layer.sizes();
  process.stdout.write(`server: ${n} REGISTER transactions in Completed (Timer J), ${states.server} held: ${perItem(before, held, n)} ` +
    `(${Math.round(transientBytes / n)} B of short-lived pooled Buffers per request alongside)\n`);
  layer.stop();

  // Client side: MESSAGE out, 200 in -> Completed, Timer K (T4 = 5 s).
  const client = new TransactionLayer({ sender });
  const user: ClientTransactionUser = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };
  const cBefore = measure();
  for (let i = 0; i < n; i++) {
    const text = register(i).replace(/^REGISTER sip:example.com/, `MESSAGE sip:bench${i}@192.0.2.33:5060`).replace("CSeq: 1 REGISTER", "CSeq: 1 MESSAGE");
    const tx = client.createClient(Buffer.from(text, "latin1"), source, user);
    const res = parseMessage(buildResponse(tx.request, 200, "OK", { toTag: `t${i}` }));
    if (!res.ok || res.message.kind !== "response") throw new Error("bench response does not parse");
    client.handleResponse(res.message);
  }
  const cHeld = measure();
  process.stdout.write(`client: ${n} MESSAGE transactions in Completed (Timer K), ${client.sizes().client} held: ${perItem(cBefore, cHeld, n)}\n`);
  client.stop();
}

main();
