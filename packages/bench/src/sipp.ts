/**
 * Drives sipp (Debian's sip-tester) the way SIP operators benchmark Kamailio: a UAC at a fixed call
 * rate for a fixed number of calls, per-call response times from `-trace_rtt`, and success/failure
 * counts from `-trace_stat`.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countsFromStats, requireBinary } from "@edgepath/testkit";

export interface UacRun {
  readonly calls: number;
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  readonly elapsedMs: number;
  /** Response times (ms, sipp's resolution) of rtd 1 (the first transaction of each call). */
  readonly rtt: number[];
  readonly exitCode: number | null;
  readonly errors: string;
}

export interface UacOptions {
  readonly scenario: string;
  readonly target: string;
  readonly localPort: number;
  readonly rate: number;
  readonly calls: number;
  readonly injectionFile: string;
  readonly transport: "u1" | "t1" | "un" | "tn";
  readonly timeoutMs: number;
}

export async function runUac(o: UacOptions): Promise<UacRun> {
  const dir = await mkdtemp(join(tmpdir(), "edgepath-bench-sipp-"));
  const args = [
    o.target, "-sf", o.scenario, "-inf", o.injectionFile, "-i", "127.0.0.1", "-p", String(o.localPort), "-t", o.transport,
    "-r", String(o.rate), "-m", String(o.calls), "-l", String(Math.max(200, o.rate * 2)),
    "-nostdin", "-trace_stat", "-stf", join(dir, "stat.csv"), "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
    "-trace_err", "-error_file", join(dir, "errors.log"), "-timeout", `${Math.ceil(o.timeoutMs / 1000)}s`,
    "-max_socket", "1000", "-buff_size", "4194304",
  ];
  const started = Date.now();
  const child = spawn(requireBinary("sipp"), args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const exitCode = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  const elapsedMs = Date.now() - started;
  try {
    const stat = await readFile(join(dir, "stat.csv"), "utf8").catch(() => "");
    const counts = countsFromStats(stat) ?? { successful: 0, failed: o.calls };
    const retransmissions = lastColumn(stat, "Retransmissions(C)");
    const rttFile = (await readdir(dir)).find((f) => f.endsWith("_rtt.csv"));
    const rtt: number[] = [];
    if (rttFile !== undefined) {
      for (const line of (await readFile(join(dir, rttFile), "utf8")).split("\n")) {
        const [, ms, rtd] = line.split(";");
        if (rtd?.trim() === "1" && ms !== undefined && ms !== "") rtt.push(Number(ms));
      }
    }
    const errors = (await readFile(join(dir, "errors.log"), "utf8").catch(() => "")).slice(0, 4000);
    return { calls: o.calls, ...counts, retransmissions, elapsedMs, rtt, exitCode, errors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lastColumn(csv: string, name: string): number {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== "");
  const i = lines[0]?.split(";").indexOf(name) ?? -1;
  const v = Number(lines[lines.length - 1]?.split(";")[i]);
  return i >= 0 && Number.isFinite(v) ? v : 0;
}

/** A sipp UAS (the registered phones) that runs until stopped. */
export interface Uas {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function startUas(scenario: string, localPort: number, transport: "u1" | "t1" | "un" | "tn"): Promise<Uas> {
  const dir = await mkdtemp(join(tmpdir(), "edgepath-bench-uas-"));
  const child = spawn(requireBinary("sipp"), ["-sf", scenario, "-i", "127.0.0.1", "-p", String(localPort), "-t", transport, "-nostdin", "-buff_size", "4194304"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // sipp binds synchronously at start; give it a moment to open the socket (no readiness signal exists).
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`sipp UAS exited at once (${child.exitCode}) on port ${localPort}`);
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
