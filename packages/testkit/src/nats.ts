import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireBinary } from "./find-binary.js";
import { ManagedProcess } from "./managed-process.js";
import { awaitReady, relaunchOnPort, tcpProbe } from "./server-common.js";
import type { RestartOptions } from "./redis.js";

export interface StartNatsOptions {
  /** Require this user/password from clients. */
  readonly user?: string;
  readonly pass?: string;
  /** Require this token from clients. */
  readonly token?: string;
  readonly extraArgs?: readonly string[];
  /** Start-up timeout; default 10 s. */
  readonly timeoutMs?: number;
}

export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly running: boolean;
  stop(): Promise<void>;
  /** Stops and starts again on the same port (clients reconnect to the same URL). */
  restart(opts?: RestartOptions): Promise<void>;
  log(): string;
}

const HOST = "127.0.0.1";

/**
 * Starts nats-server on 127.0.0.1 with `-p -1` (the server picks a random free port, so
 * there is no free-port race) and reads the port from its ports file
 * (`--ports_file_dir`). Ready when a TCP connect receives the server's `INFO` line.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const binary = requireBinary("nats-server");
  const dir = await mkdtemp(join(tmpdir(), "edgepath-nats-"));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const auth = [
    ...(opts.user !== undefined ? ["--user", opts.user] : []),
    ...(opts.pass !== undefined ? ["--pass", opts.pass] : []),
    ...(opts.token !== undefined ? ["--auth", opts.token] : []),
  ];
  let previousLogs = "";

  const launch = async (port: number): Promise<{ proc: ManagedProcess; port: number }> => {
    const proc = new ManagedProcess(
      binary,
      ["-a", HOST, "-p", String(port), "--ports_file_dir", dir, ...auth, ...(opts.extraArgs ?? [])],
      { cwd: dir },
    );
    // The ports file is written only after this process has bound its listeners, so
    // reading it (named by our pid) proves the port is ours — a TCP probe alone could
    // reach some other process that took a fixed port.
    const portsFile = join(dir, `nats-server_${proc.pid ?? "unknown"}.ports`);
    let found: number | undefined;
    await awaitReady(
      "nats-server",
      proc,
      async () => {
        found ??= await readPortsFile(portsFile);
        return found !== undefined;
      },
      timeoutMs,
    );
    const actual = found ?? -1;
    await awaitReady(`nats-server :${actual}`, proc, async () => (await tcpProbe(HOST, actual, undefined))?.startsWith("INFO ") === true, timeoutMs);
    return { proc, port: actual };
  };

  let first: { proc: ManagedProcess; port: number };
  try {
    first = await launch(-1);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const port = first.port;
  let current: ManagedProcess | undefined = first.proc;
  let stopped = false;

  const server: NatsServer = {
    url: `nats://${HOST}:${port}`,
    host: HOST,
    port,
    get running() {
      return current !== undefined && current.exitInfo === undefined;
    },
    log: () => previousLogs + (current?.log() ?? ""),
    async restart(ropts: RestartOptions = {}) {
      if (stopped) throw new Error("nats-server was stopped; cannot restart");
      if (current !== undefined) {
        await (ropts.kill === true ? current.kill() : current.stop());
        previousLogs += current.log();
        current = undefined;
      }
      await ropts.whileDown?.();
      current = (await relaunchOnPort(launch, port)).proc;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current !== undefined) {
        await current.stop();
        previousLogs += current.log();
        current = undefined;
      }
      await rm(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return server.stop();
    },
  };
  return server;
}

async function readPortsFile(path: string): Promise<number | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { nats?: unknown };
    const first = Array.isArray(parsed.nats) ? (parsed.nats[0] as unknown) : undefined;
    if (typeof first !== "string") return undefined;
    const port = Number(new URL(first).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined; // not written yet (or half written)
  }
}

