/**
 * Parser throughput: ours vs the `sip` npm package and `drachtio-sip`, on the same bytes, in
 * one run. Prints msg/s; it is a script, not a test (DESIGN §7).
 *
 *   pnpm bench:parse            (root script: tsc -b && node packages/sip/dist/bench/parse-bench.js)
 */
import { createRequire } from "node:module";
import { parseMessage } from "../parser.js";
import type { SipMessage } from "../message.js";
import { INVITE, REGISTER } from "./messages.js";

type ParseFn = (b: Buffer) => unknown;

const require = createRequire(import.meta.url);

/** Load a CommonJS parser without letting `any` leak: check the shape, then narrow. */
function loadFn(mod: string, pick: (m: Record<string, unknown>) => unknown): ParseFn | undefined {
  try {
    const m = require(mod) as unknown;
    if (typeof m !== "object" || m === null) return undefined;
    const fn = pick(m as Record<string, unknown>);
    return typeof fn === "function" ? (fn as ParseFn) : undefined;
  } catch {
    return undefined;
  }
}

const sipParse = loadFn("sip", (m) => m["parse"]);
const drachtioParser = loadFn("drachtio-sip", (m) => {
  const p = m["parser"];
  return typeof p === "object" && p !== null ? (p as Record<string, unknown>)["parseSipMessage"] : undefined;
});

function bench(name: string, fn: () => unknown, ms = 1500): number {
  // warm-up, then timed batches until `ms` elapsed
  for (let i = 0; i < 20000; i++) fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 5000; i++) fn();
    n += 5000;
    elapsed = process.hrtime.bigint() - t0;
  }
  const rate = (n * 1e9) / Number(elapsed);
  console.log(`  ${name.padEnd(58)} ${Math.round(rate).toLocaleString("en-US").padStart(11)} msg/s`);
  return rate;
}

function ours(b: Buffer): SipMessage {
  const r = parseMessage(b);
  if (!r.ok) throw r.error;
  return r.message;
}

const reg = Buffer.from(REGISTER, "latin1");
const inv = Buffer.from(INVITE, "latin1");
let sink = 0;

function compare(label: string, buf: Buffer, oursFn: () => void): void {
  console.log(`\n${label} (${buf.length} bytes)`);
  const mine = bench("@edgepath/sip parseMessage + accessors", oursFn);
  const rates: [string, number][] = [];
  if (sipParse !== undefined) rates.push(["sip@0.0.6 sip.parse", bench("sip@0.0.6 sip.parse (eager, all headers)", () => sipParse(buf))]);
  else console.log("  sip: not installed");
  if (drachtioParser !== undefined) {
    rates.push(["drachtio-sip@0.6.3 parser.parseSipMessage", bench("drachtio-sip@0.6.3 parser.parseSipMessage (eager)", () => drachtioParser(buf))]);
  } else console.log("  drachtio-sip: not installed");
  for (const [n, r] of rates) console.log(`  ratio ours / ${n}: ${(mine / r).toFixed(2)}x`);
  const fastest = Math.max(...rates.map((x) => x[1]));
  if (rates.length > 0) console.log(`  ratio ours / fastest other: ${(mine / fastest).toFixed(2)}x`);
}

console.log(`node ${process.version}, ${process.arch}`);

compare("REGISTER: parse + topVia, callId, cseq, to, contacts, expires", reg, () => {
  const m = ours(reg);
  const v = m.topVia();
  const c = m.contacts();
  sink += v.port ?? 0;
  sink += m.callId.length + m.cseq().seq + m.to().uri.length + (c === "*" ? 0 : c.length) + (m.expires() ?? 0);
});

compare("INVITE with SDP: parse + topVia, maxForwards, routes, callId", inv, () => {
  const m = ours(inv);
  sink += (m.topVia().port ?? 0) + (m.maxForwards() ?? 0) + m.routes().length + m.callId.length;
});

console.log("\nProxy round trip: parse INVITE, prepend Via, prepend Record-Route, Max-Forwards - 1, toBuffer");
bench("@edgepath/sip parse + edit + toBuffer", () => {
  const m = ours(inv);
  const mf = m.maxForwards() ?? 70;
  const out = m
    .edit()
    .prependHeader("Via", "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-edge-1")
    .prependHeader("Record-Route", "<sip:203.0.113.1;lr>")
    .setMaxForwards(mf - 1)
    .toBuffer();
  sink += out.length;
});

if (sink === 42) console.log("");
