/**
 * A trivial registrar stand-in for the "edge alone" bench phase: it joins the cluster as a
 * worker (NATS heartbeats, so the edge puts it on its ring) and answers every request it
 * gets on its UDP socket with `200 OK` at once, without parsing beyond the start line. With
 * the worker's cost out of the way, what sipp measures is the edge's own forwarding rate.
 *
 * The answer is the request's header section under a `SIP/2.0 200 OK` status line, body
 * and Content-Length dropped: every Via (the edge's on top), From, To, Call-ID and CSeq
 * come back unchanged, which is all the edge (RFC 3261 §16.7: pop own Via, forward by the
 * next) and sipp (match by Call-ID / CSeq) look at. Not a UAS to copy: no To tag, and
 * foreign headers (Contact, Path, Route...) are echoed.
 *
 * Run: `node stand-in.js NATS_URL ID` — prints `{"msg":"stand-in-ready","sip":"host:port"}`.
 */
import { createSocket } from "node:dgram";
import { Heartbeater } from "@edgepath/cluster";
import { NatsClusterBus } from "@edgepath/cluster-nats";

const STATUS = Buffer.from("SIP/2.0 200 OK\r\n");
const CONTENT_LENGTH_0 = Buffer.from("Content-Length: 0\r\n\r\n");
const CRLF = 0x0a;

/** The 200 for a request datagram, or undefined for a response / something unframed. */
export function answer200(req: Buffer): Buffer | undefined {
  if (req.length < 8 || req.toString("latin1", 0, 7) === "SIP/2.0") return undefined;
  const firstLf = req.indexOf(CRLF);
  const end = req.indexOf("\r\n\r\n");
  if (firstLf < 0 || end < firstLf) return undefined;
  const parts: Buffer[] = [STATUS];
  // Header lines between the start line and the blank line, without Content-Length (`l` compact).
  let start = firstLf + 1;
  while (start < end + 2) {
    const lf = req.indexOf(CRLF, start);
    const lineEnd = lf < 0 ? end + 2 : lf + 1;
    const c = req[start]! | 0x20;
    const isCl =
      (c === 0x63 && req.toString("latin1", start, start + 15).toLowerCase() === "content-length:") ||
      (c === 0x6c && (req[start + 1] === 0x3a || req[start + 1] === 0x20));
    if (!isCl) parts.push(req.subarray(start, lineEnd));
    start = lineEnd;
  }
  parts.push(CONTENT_LENGTH_0);
  return Buffer.concat(parts);
}

async function main(): Promise<void> {
  const [natsUrl, id] = process.argv.slice(2);
  if (natsUrl === undefined || id === undefined) throw new Error("usage: stand-in NATS_URL ID");
  const sock = createSocket("udp4");
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
  sock.setRecvBufferSize(8 * 1024 * 1024);
  sock.setSendBufferSize(8 * 1024 * 1024);
  sock.on("message", (msg, rinfo) => {
    const res = answer200(msg);
    if (res !== undefined) sock.send(res, rinfo.port, rinfo.address);
  });
  const addr = sock.address();
  const sipAddress = `${addr.address}:${addr.port}`;
  const bus = await NatsClusterBus.connect({ servers: [natsUrl], name: `edgepath-bench-stand-in-${id}` });
  const hb = new Heartbeater(bus, { id, role: "worker", sipAddress, startedAt: Date.now() }, 1000);
  hb.start();
  process.stdout.write(`${JSON.stringify({ msg: "stand-in-ready", sip: sipAddress })}\n`);
  const stop = (): void => {
    hb.stop(true);
    sock.close();
    void bus.close().finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1]?.endsWith("stand-in.js") === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`stand-in failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
