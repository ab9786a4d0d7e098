/**
 * `pnpm bench`: the whole-system benchmark (issue 7). Starts Redis (AOF, fsync every second),
 * NATS, one edge and two registrar workers as separate processes — or one `edgepath all` process
 * with `--embedded`, or nothing with `--target host:port` — and drives them with sipp:
 *
 *   1. REGISTER   users register from the port the phones (a sipp UAS) will listen on;
 *   2. MESSAGE    RFC 3428 to registered users: edge -> worker -> edge -> phone;
 *   3. INVITE+BYE call setup through the location proxy, ACK/BYE along Record-Route.
 *
 * Each phase steps through increasing rates; a step counts as clean when sipp saw no failed call.
 * The table reports, per phase, the highest clean step's achieved rate, p50/p95/p99 response times
 * (of the first transaction of each call, sipp's -trace_rtt, 1 ms resolution) at about half the
 * top clean rate, CPU seconds per 1000 calls of each of our processes, and their RSS; then one
 * line per phase against issue 7's targets (summary.ts), with the p99 at half the target rate.
 * Numbers are printed and written to JSON, never asserted (CONVENTIONS: benchmarks print numbers).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "@edgepath/testkit";
import type { BenchProcess, EdgepathProcess } from "./processes.js";
import { removeDir, startEdgepath, startNatsForBench, startRedisForBench, startStandIn } from "./processes.js";
import { formatSummary, summarizeProfile } from "./profile.js";
import type { ProfileSummary } from "./profile.js";
import { percentile, runUac, startUas } from "./sipp.js";
import type { UacRun } from "./sipp.js";
import { isClean, summarizePhase, targetLines, TARGETS } from "./summary.js";
import type { PhaseResult, Step } from "./summary.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");
const scenarios = resolve(here, "../scenarios");
const mainJs = join(repoRoot, "services/edgepath/dist/main.js");
const standInJs = join(here, "stand-in.js");

const { values: args } = parseArgs({
  options: {
    embedded: { type: "boolean", default: false },
    "edge-alone": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    "linger-check": { type: "boolean", default: false },
    "node-flags": { type: "string" },
    logs: { type: "string" },
    target: { type: "string" },
    smoke: { type: "boolean", default: false },
    users: { type: "string" },
    seconds: { type: "string" },
    "register-rates": { type: "string" },
    "message-rates": { type: "string" },
    "invite-rates": { type: "string" },
    transport: { type: "string", default: "udp" },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  process.stdout.write(`usage: pnpm bench [--embedded | --edge-alone | --target host:port] [--smoke] [--users N] [--seconds S]
       [--register-rates 1000,2000,...] [--message-rates ...] [--invite-rates ...] [--transport udp|tcp]
       [--cpu-prof] [--linger-check] [--node-flags="--flag ..."] [--logs dir] [--out file.json]
Default: Redis + NATS + 1 edge + 2 workers as separate processes. --embedded: one \`edgepath all\` process.
--edge-alone: NATS + 1 edge + a worker stand-in that answers 200 at once (measures the edge's own
forwarding rate; REGISTER phase only). --target drives an already running edge (its domain must be
example.com). --smoke: low rates, proves the harness (CI). --cpu-prof: run our processes under
node --cpu-prof and print each one's top self-time functions. --linger-check: after the load, read
each process's heap and open transactions from /metrics, wait out Timer J (32 s), read them again.
--node-flags: extra flags for our node processes (e.g. --node-flags="--trace-gc"). --logs: write each
process's output (its last 100 kB) to dir/<name>.log at the end.
`);
  process.exit(0);
}

const smoke = args.smoke === true;
const seconds = Number(args.seconds ?? (smoke ? 2 : 5));
const users = Number(args.users ?? (smoke ? 50 : 2000));
const rates = (s: string | undefined, dflt: number[]): number[] => (s === undefined ? dflt : s.split(",").map(Number).filter((n) => n > 0));
const edgeAlone = args["edge-alone"] === true;
const registerRates = rates(args["register-rates"], smoke ? [50] : edgeAlone ? [2500, 5000, 7500, 10_000, 12_500, 15_000, 17_500] : [1000, 3000, 5000, 6000, 7000, 8000]);
const messageRates = rates(args["message-rates"], smoke ? [50] : [1000, 2500, 3500, 4000, 4500, 5000, 5500]);
const inviteRates = rates(args["invite-rates"], smoke ? [20] : [250, 500, 1000, 1500, 2000]);
const sippTransport = args.transport === "tcp" ? "t1" : "u1";
const domain = "example.com";

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of /proc/pid/stat (index 11, 12 after the comm field).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? Number.NaN : Math.round(Number(m[1]) / 1024);
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<number> {
  const procs: BenchProcess[] = [];
  const edgepaths: EdgepathProcess[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  let target: string;
  const mode = args.target !== undefined ? "target" : args.embedded ? "embedded" : edgeAlone ? "edge-alone" : "cluster";
  const profDir = args["cpu-prof"] === true ? mkdtempSync(join(tmpdir(), "edgepath-bench-prof-")) : undefined;
  const extraFlags = (args["node-flags"] ?? "").split(/\s+/).filter((f) => f.length > 0);
  const nodeArgs = (name: string): string[] => [...extraFlags, ...(profDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profDir, name)}`])];
  let outcome: { code: number; out: string; json: Record<string, unknown> } | undefined;
  try {
    if (args.target !== undefined) {
      target = args.target;
    } else if (args.embedded) {
      const all = await startEdgepath(mainJs, "all", "edgepath-all", { EDGEPATH_DOMAINS: domain, EDGEPATH_SECRET: "bench-secret-0123456789abcdef0123", EDGEPATH_WORKERS: "2" }, nodeArgs("edgepath-all"));
      procs.push(all);
      edgepaths.push(all);
      target = `127.0.0.1:${all.sipPort}`;
    } else if (edgeAlone) {
      const nats = await startNatsForBench();
      procs.push(nats.proc);
      procs.push(await startStandIn(standInJs, nats.url, "stand-in-1"));
      const iport = await freePort("udp");
      const edge = await startEdgepath(
        mainJs, "edge", "edge-1",
        { NATS_URL: nats.url, EDGEPATH_DOMAINS: domain, EDGEPATH_SECRET: "bench-secret-0123456789abcdef0123", EDGEPATH_INTERNAL_LISTEN: `127.0.0.1:${iport}` },
        nodeArgs("edge-1"),
      );
      procs.push(edge);
      edgepaths.push(edge);
      target = `127.0.0.1:${edge.sipPort}`;
      await waitForRing(edge.httpPort, 1);
    } else {
      const redis = await startRedisForBench();
      procs.push(redis.proc);
      cleanup.push(() => removeDir(redis.dir));
      const nats = await startNatsForBench();
      procs.push(nats.proc);
      // Digest auth off, as in the Kamailio reference runs (no auth module): the bench measures the
      // forwarding and registrar path; auth costs one extra round trip per REGISTER.
      const common = { REDIS_URL: redis.url, NATS_URL: nats.url, EDGEPATH_DOMAINS: domain, EDGEPATH_SECRET: "bench-secret-0123456789abcdef0123", EDGEPATH_AUTH: "off" };
      for (const n of [1, 2]) {
        const port = await freePort("udp");
        const w = await startEdgepath(mainJs, "registrar", `worker-${n}`, { ...common, EDGEPATH_INTERNAL_LISTEN: `127.0.0.1:${port}` }, nodeArgs(`worker-${n}`));
        procs.push(w);
        edgepaths.push(w);
      }
      const iport = await freePort("udp");
      const edge = await startEdgepath(mainJs, "edge", "edge-1", { ...common, EDGEPATH_INTERNAL_LISTEN: `127.0.0.1:${iport}` }, nodeArgs("edge-1"));
      procs.push(edge);
      edgepaths.push(edge);
      target = `127.0.0.1:${edge.sipPort}`;
      await waitForRing(edge.httpPort, 2);
    }

    const work = mkdtempSync(join(tmpdir(), "edgepath-bench-"));
    cleanup.push(() => Promise.resolve(rmSync(work, { recursive: true, force: true })));
    const usersFile = join(work, "users.csv");
    writeFileSync(usersFile, `SEQUENTIAL\n${Array.from({ length: users }, (_, i) => `bench${i + 1};${domain}`).join("\n")}\n`);
    const phonePort = await freePort(sippTransport === "t1" ? "tcp" : "udp");
    const ours = procs.filter((p) => p.name.startsWith("edge") || p.name.startsWith("worker"));
    const standIn = procs.filter((p) => p.name.startsWith("stand-in"));

    // Peak RSS per process, sampled through the run (UDP server transactions live for Timer J,
    // 32 s, so the peak comes under load, not at the end).
    const peakRss: Record<string, number> = {};
    const sampler = setInterval(() => {
      for (const p of [...ours, ...procs.filter((q) => q.name.startsWith("stand-in"))]) peakRss[p.name] = Math.max(peakRss[p.name] ?? 0, rssMiB(p.pid) || 0);
    }, 500);
    cleanup.push(() => Promise.resolve(clearInterval(sampler)));
    process.stdout.write(`edgepath bench: mode=${mode} target=${target} users=${users} transport=${args.transport} ${seconds}s per step\n`);
    const results: PhaseResult[] = [];

    // Phase 1: REGISTER, from the phones' port so later phases reach them.
    results.push(await phase(edgeAlone ? "EDGE-ALONE" : "REGISTER", registerRates, (rate, calls) =>
      runUac({ scenario: join(scenarios, "register.xml"), target, localPort: phonePort, rate, calls, injectionFile: usersFile, transport: sippTransport, timeoutMs: (calls / rate) * 1000 + 30_000 }), ours));

    // Phases 2 and 3: a UAS on the phones' port answers what the edge delivers over the registered flows.
    // With TCP the phones' registrations are gone when the REGISTER sipp exits (its connections close), so
    // MESSAGE/INVITE use UDP registrations only.
    if (sippTransport === "u1" && !edgeAlone) {
      const senderPort = await freePort("udp");
      const msgUas = await startUas(join(scenarios, "message-uas.xml"), phonePort, "u1");
      try {
        results.push(await phase("MESSAGE", messageRates, (rate, calls) =>
          runUac({ scenario: join(scenarios, "message-uac.xml"), target, localPort: senderPort, rate, calls, injectionFile: usersFile, transport: "u1", timeoutMs: (calls / rate) * 1000 + 30_000 }), ours));
      } finally {
        await msgUas.stop();
      }
      const invUas = await startUas(join(scenarios, "invite-uas.xml"), phonePort, "u1");
      try {
        results.push(await phase("INVITE+BYE", inviteRates, (rate, calls) =>
          runUac({ scenario: join(scenarios, "invite-uac.xml"), target, localPort: senderPort, rate, calls, injectionFile: usersFile, transport: "u1", timeoutMs: (calls / rate) * 1000 + 30_000 }), ours));
      } finally {
        await invUas.stop();
      }
    }

    let linger: Record<string, { atEnd: Memory; afterTimerJ: Memory }> | undefined;
    if (args["linger-check"] === true) {
      // RFC 3261 §17.2.2: UDP non-INVITE server transactions stay Completed for Timer J (64*T1 =
      // 32 s) holding request and response. What is still held after that is not Timer J.
      const atEnd = await Promise.all(edgepaths.map((p) => memoryOf(p)));
      process.stdout.write(`linger check: at end of load ${edgepaths.map((p, i) => `${p.name} ${fmtMemory(atEnd[i]!)}`).join("; ")}; waiting 34 s (Timer J)\n`);
      await new Promise((r) => setTimeout(r, 34_000));
      const after = await Promise.all(edgepaths.map((p) => memoryOf(p)));
      process.stdout.write(`linger check: after Timer J     ${edgepaths.map((p, i) => `${p.name} ${fmtMemory(after[i]!)}`).join("; ")}\n`);
      linger = Object.fromEntries(edgepaths.map((p, i) => [p.name, { atEnd: atEnd[i]!, afterTimerJ: after[i]! }]));
    }
    const rss = Object.fromEntries([...ours, ...standIn].map((p) => [p.name, rssMiB(p.pid)]));
    printTable(results, rss);
    process.stdout.write(`peak RSS MiB during run: ${Object.entries(peakRss).map(([n, v]) => `${n}=${v}`).join(" ")}\n`);
    if (edgeAlone) {
      const best = results[0]?.bestCleanPerSec ?? 0;
      // Per REGISTER the edge forwards two messages: the request (public -> worker) and the 200 (worker -> phone).
      process.stdout.write(`edge alone: ${best} REGISTER/s clean = ${best * 2} messages/s forwarded by the edge\n`);
    }
    const out = args.out ?? join(repoRoot, `bench-result-${mode}.json`);
    const failedSmoke = smoke && results.some((r) => r.steps.some((s) => s.failed > 0 || s.successful === 0));
    if (failedSmoke) process.stdout.write("smoke run had failed calls\n");
    outcome = {
      code: failedSmoke ? 1 : 0,
      out,
      json: { at: new Date().toISOString(), mode, target, users, seconds, transport: args.transport, node: process.version, results, rssMiB: rss, peakRssMiB: peakRss, ...(linger !== undefined ? { linger } : {}) },
    };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    if (args.logs !== undefined) {
      mkdirSync(args.logs, { recursive: true });
      for (const p of procs) writeFileSync(join(args.logs, `${p.name}.log`), p.output());
    }
    for (const c of cleanup) await c().catch(() => undefined);
  }
  // Profiles are written when the processes exit, so they are read after the stop above.
  if (profDir !== undefined) {
    const profiles: Record<string, ProfileSummary> = {};
    for (const name of readdirSync(profDir)) {
      const file = readdirSync(join(profDir, name)).find((f) => f.endsWith(".cpuprofile"));
      if (file === undefined) continue;
      const summary = summarizeProfile(join(profDir, name, file));
      profiles[name] = summary;
      process.stdout.write(`\n${formatSummary(name, summary)}\n`);
    }
    outcome.json["profiles"] = profiles;
    process.stdout.write(`cpu profiles kept in ${profDir} (open in Chrome DevTools / speedscope)\n`);
  }
  writeFileSync(outcome.out, `${JSON.stringify(outcome.json, null, 2)}\n`);
  process.stdout.write(`wrote ${outcome.out}\n`);
  return outcome.code;

  async function phase(name: string, stepRates: number[], run: (rate: number, calls: number) => Promise<UacRun>, measured: BenchProcess[]): Promise<PhaseResult> {
    const steps: Step[] = [];
    // Warm-up, not recorded: the first seconds of a phase run cold code (V8 tiers up, caches
    // fill), which would otherwise show as retransmissions and seconds of latency in step one.
    if (!smoke && stepRates[0] !== undefined) {
      const w = Math.max(10, Math.round(stepRates[0] / 2));
      const warm = await run(w, w * 3);
      process.stdout.write(`  ${name.padEnd(10)} warm-up ${w}/s: ok ${warm.successful}/${w * 3}\n`);
    }
    for (const rate of stepRates) {
      const calls = Math.max(rate * seconds, 10);
      const before = new Map(measured.map((p) => [p.name, cpuSeconds(p.pid)]));
      const r = await run(rate, calls);
      const cpuPer1000: Record<string, number> = {};
      for (const p of measured) cpuPer1000[p.name] = round(((cpuSeconds(p.pid) - (before.get(p.name) ?? 0)) / Math.max(1, r.successful)) * 1000, 3);
      const sorted = [...r.rtt].sort((a, b) => a - b);
      const step: Step = {
        rate, calls, successful: r.successful, failed: r.failed, retransmissions: r.retransmissions,
        achievedPerSec: round(r.successful / Math.max(0.001, r.elapsedMs / 1000), 0),
        p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), cpuPer1000,
      };
      steps.push(step);
      process.stdout.write(`  ${name.padEnd(10)} rate ${String(rate).padStart(5)}/s: ok ${step.successful}/${calls} failed ${step.failed} retrans ${step.retransmissions} achieved ${step.achievedPerSec}/s p50/p95/p99 ${step.p50}/${step.p95}/${step.p99} ms\n`);
      if (r.failed > 0 && r.errors !== "") process.stdout.write(`    first errors: ${r.errors.split("\n").slice(0, 6).join(" | ")}\n`);
      if (!isClean(step)) break; // the next step would only fail harder
    }
    return summarizePhase(name, steps, smoke ? undefined : TARGETS[name]);
  }
}

function printTable(results: PhaseResult[], rss: Record<string, number>): void {
  const names = Object.keys(rss);
  const header = ["phase", "clean/s", "p50 ms", "p95 ms", "p99 ms", "at rate", ...names.map((n) => `cpu s/1k ${n}`)];
  const rows = results.map((r) => {
    const top = [...r.steps].reverse().find(isClean) ?? r.steps[r.steps.length - 1];
    return [
      r.phase, String(r.bestCleanPerSec),
      String(r.latencyAtHalf?.p50 ?? "-"), String(r.latencyAtHalf?.p95 ?? "-"), String(r.latencyAtHalf?.p99 ?? "-"), String(r.latencyAtHalf?.rate ?? "-"),
      ...names.map((n) => String(top?.cpuPer1000[n] ?? "-")),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  process.stdout.write(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n${rows.map(line).join("\n")}\n`);
  process.stdout.write(`RSS MiB after run: ${names.map((n) => `${n}=${rss[n]}`).join(" ")}\n`);
  for (const l of targetLines(results)) process.stdout.write(`${l}\n`);
}

async function waitForRing(httpPort: number, members: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const r = (await (await fetch(`http://127.0.0.1:${httpPort}/v1/ring`)).json()) as { members?: unknown[] };
      if ((r.members?.length ?? 0) >= members) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ring did not reach ${members} members`);
}

interface Memory {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly transactionsOpen: number | undefined;
}

/** Heap and open transactions from the process's Prometheus endpoint (prom-client default metrics). */
async function memoryOf(p: EdgepathProcess): Promise<Memory> {
  let text = "";
  try {
    text = await (await fetch(`http://127.0.0.1:${p.httpPort}/metrics`)).text();
  } catch {
    // not reachable: NaN below
  }
  const metric = (name: string): number | undefined => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const heap = metric("edgepath_nodejs_heap_size_used_bytes");
  return {
    rssMiB: rssMiB(p.pid),
    heapUsedMiB: heap === undefined ? Number.NaN : Math.round(heap / 1024 / 1024),
    transactionsOpen: metric("edgepath_transactions_open"),
  };
}

function fmtMemory(m: Memory): string {
  return `rss ${m.rssMiB} MiB heap ${m.heapUsedMiB} MiB${m.transactionsOpen !== undefined ? ` tx ${m.transactionsOpen}` : ""}`;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
