/**
 * The system under test as separate OS processes: redis-server (AOF on, fsync every second — the
 * persistence a production registrar runs with), nats-server, and edgepath roles, each started on
 * free loopback ports and awaited by probing, never by sleeping.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, freeSipPort, requireBinary } from "@edgepath/testkit";

export interface BenchProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `stopSignal`: edgepath processes get SIGINT, its fast (not graceful) stop: a graceful
 * worker finishes its transactions (up to Timer J, 32 s) and would be killed first, and a
 * killed `node --cpu-prof` writes no profile.
 */
function track(name: string, child: ChildProcess, stopSignal: NodeJS.Signals = "SIGTERM"): BenchProcess {
  let out = "";
  const keep = (b: Buffer): void => {
    out += b.toString("utf8");
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    name,
    pid: child.pid ?? -1,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(stopSignal);
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function tcpReady(port: number, probe: string | undefined, expect: RegExp | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      let buf = "";
      const done = (v: boolean): void => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(500, () => done(false));
      s.on("error", () => done(false));
      s.on("connect", () => {
        if (probe === undefined) done(true);
        else s.write(probe);
      });
      s.on("data", (d) => {
        buf += d.toString();
        if (expect === undefined || expect.test(buf)) done(true);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedisForBench(): Promise<{ proc: BenchProcess; url: string; dir: string }> {
  const port = await freePort("tcp");
  const dir = await mkdtemp(join(tmpdir(), "edgepath-bench-redis-"));
  const child = spawn(
    requireBinary("redis-server"),
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const proc = track("redis", child);
  await tcpReady(port, "PING\r\n", /PONG/, 10_000);
  return { proc, url: `redis://127.0.0.1:${port}`, dir };
}

export async function startNatsForBench(): Promise<{ proc: BenchProcess; url: string }> {
  const port = await freePort("tcp");
  const child = spawn(requireBinary("nats-server"), ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  const proc = track("nats", child);
  await tcpReady(port, undefined, /INFO/, 10_000);
  return { proc, url: `nats://127.0.0.1:${port}` };
}

export interface EdgepathProcess extends BenchProcess {
  readonly sipPort: number | undefined;
  readonly httpPort: number;
}

/** Starts `edgepath <role>` and waits for its `edgepath-ready` line. */
export async function startEdgepath(
  mainJs: string,
  role: "all" | "edge" | "registrar",
  name: string,
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<EdgepathProcess> {
  const httpPort = await freePort("tcp");
  const sipPort = role === "registrar" ? undefined : await freeSipPort();
  const fullEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    EDGEPATH_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    EDGEPATH_NODE_ID: name,
    EDGEPATH_LOG_LEVEL: "warn",
    ...(sipPort !== undefined ? { EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}` } : {}),
    ...env,
  };
  const child = spawn(process.execPath, [...nodeArgs, mainJs, role], { env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  const proc = track(name, child, "SIGINT");
  await readyLine(proc, '"edgepath-ready"');
  return { ...proc, sipPort, httpPort };
}

/** The "edge alone" phase's worker stand-in (stand-in.ts); resolves with its SIP address. */
export async function startStandIn(standInJs: string, natsUrl: string, id: string): Promise<BenchProcess> {
  const child = spawn(process.execPath, [standInJs, natsUrl, id], { stdio: ["ignore", "pipe", "pipe"] });
  const proc = track(id, child);
  await readyLine(proc, '"stand-in-ready"');
  return proc;
}

async function readyLine(proc: BenchProcess, marker: string): Promise<void> {
  const { child, name } = proc;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready after 20 s:\n${proc.output().slice(-3000)}`)), 20_000);
    const check = (): void => {
      if (proc.output().includes(marker)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited with ${code} before ready:\n${proc.output().slice(-3000)}`));
    });
  });
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
