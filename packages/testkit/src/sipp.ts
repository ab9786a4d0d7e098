import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireBinary } from "./find-binary.js";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";

/** sipp's embedded scenarios (`-sn`). */
export type SippBuiltinScenario = "uac" | "uas" | "regexp" | "branchc" | "branchs" | "uac_pcap" | "3pcc-A" | "3pcc-B" | "3pcc-C-A" | "3pcc-C-B";

export type SippTransport = "u1" | "un" | "t1" | "tn";

interface SippCommon {
  /** `host:port` of the SUT; omit for a pure server scenario (uas). */
  readonly target?: string;
  readonly transport?: SippTransport;
  /** Calls per second (`-r`); sipp's default is 10. */
  readonly rate?: number;
  /** Stop after this many calls (`-m`). */
  readonly calls: number;
  /** Local SIP port (`-p`); default a free port for the transport. */
  readonly localPort?: number;
  /** CSV injection file (`-inf`). */
  readonly injectionFile?: string;
  readonly extraArgs?: readonly string[];
  /** Hard limit: sipp is killed after this long and the result has `timedOut: true`. */
  readonly timeoutMs: number;
}

/** Exactly one of `scenarioFile` (`-sf`) or `scenario` (`-sn`, embedded). */
export type RunSippOptions = SippCommon & ({ readonly scenarioFile: string; readonly scenario?: never } | { readonly scenario: SippBuiltinScenario; readonly scenarioFile?: never });

export interface SippResult {
  /** sipp's exit code: 0 all calls succeeded, 1 some failed, 97/99 see sipp(1), -1 fatal; `null` if killed. */
  readonly exitCode: number | null;
  readonly successful: number;
  readonly failed: number;
  readonly timedOut: boolean;
  readonly localPort: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Contents of the `-trace_stat` file (semicolon-separated; last row is the final dump). */
  readonly statsCsv?: string;
  /** Final statistics screen (`-trace_screen`). */
  readonly screen?: string;
  /** Unexpected messages (`-trace_err`). */
  readonly errors?: string;
}

/**
 * Runs sipp to completion (`-m calls`) bound to 127.0.0.1 and a free local port, traces
 * statistics, the final screen and unexpected messages into a temp dir, and parses the
 * successful/failed call counts (from the stats CSV, falling back to the screen).
 * sipp also gets a global `-timeout` one second under `timeoutMs` so it can exit on its
 * own with statistics; if it still runs at `timeoutMs` it is killed.
 */
export async function runSipp(opts: RunSippOptions): Promise<SippResult> {
  const binary = requireBinary("sipp");
  const transport = opts.transport ?? "u1";
  const localPort = opts.localPort ?? (await freePort(transport.startsWith("t") ? "tcp" : "udp", "127.0.0.1"));
  const dir = await mkdtemp(join(tmpdir(), "edgepath-sipp-"));
  const statFile = join(dir, "stat.csv");
  const screenFile = join(dir, "screen.log");
  const errorFile = join(dir, "errors.log");
  const extra = opts.extraArgs ?? [];
  const args = [
    ...(opts.target !== undefined ? [opts.target] : []),
    ...(opts.scenarioFile !== undefined ? ["-sf", opts.scenarioFile] : ["-sn", opts.scenario]),
    "-i", "127.0.0.1",
    "-p", String(localPort),
    "-t", transport,
    "-m", String(opts.calls),
    ...(opts.rate !== undefined ? ["-r", String(opts.rate)] : []),
    ...(opts.injectionFile !== undefined ? ["-inf", opts.injectionFile] : []),
    "-nostdin",
    "-trace_stat", "-stf", statFile,
    "-trace_screen", "-screen_file", screenFile,
    "-trace_err", "-error_file", errorFile,
    ...(extra.includes("-timeout") ? [] : ["-timeout", `${Math.max(1, Math.floor((opts.timeoutMs - 1000) / 1000))}s`]),
    ...extra,
  ];

  const proc = new ManagedProcess(binary, args, { cwd: dir });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void proc.stop(1000);
  }, opts.timeoutMs);
  try {
    const exit = await proc.exited;
    if (exit.error !== undefined) throw exit.error;
    const [statsCsv, screen, errors] = await Promise.all([readIfExists(statFile), readIfExists(screenFile), readIfExists(errorFile)]);
    const counts = (statsCsv !== undefined ? countsFromStats(statsCsv) : undefined) ??
      (screen !== undefined ? countsFromScreen(screen) : undefined) ??
      countsFromScreen(proc.stdout()) ?? { successful: 0, failed: 0 };
    return {
      exitCode: exit.code,
      ...counts,
      timedOut,
      localPort,
      stdout: proc.stdout(),
      stderr: proc.stderr(),
      ...(statsCsv !== undefined ? { statsCsv } : {}),
      ...(screen !== undefined ? { screen } : {}),
      ...(errors !== undefined ? { errors } : {}),
    };
  } finally {
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Cumulative counters from the last row of sipp's `-trace_stat` CSV (see `sipp -h stat`). */
export function countsFromStats(csv: string): { successful: number; failed: number } | undefined {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0]?.split(";");
  const last = lines.length > 1 ? lines[lines.length - 1]?.split(";") : undefined;
  if (header === undefined || last === undefined) return undefined;
  const ok = header.indexOf("SuccessfulCall(C)");
  const ko = header.indexOf("FailedCall(C)");
  const successful = Number(last[ok]);
  const failed = Number(last[ko]);
  if (ok < 0 || ko < 0 || !Number.isFinite(successful) || !Number.isFinite(failed)) return undefined;
  return { successful, failed };
}

/** Cumulative counters from the last statistics screen ("Successful call | periodic | cumulative"). */
export function countsFromScreen(screen: string): { successful: number; failed: number } | undefined {
  const last = (re: RegExp): number | undefined => {
    let value: number | undefined;
    for (const m of screen.matchAll(re)) value = Number(m[1]);
    return value;
  };
  const successful = last(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g);
  const failed = last(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/g);
  if (successful === undefined || failed === undefined) return undefined;
  return { successful, failed };
}
