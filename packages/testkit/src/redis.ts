import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServerStartError } from "./errors.js";
import { requireBinary } from "./find-binary.js";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";
import { addressInUse, awaitReady, relaunchOnPort, tcpProbe } from "./server-common.js";

export interface StartRedisOptions {
  /** appendonly yes + appendfsync always: every acknowledged write survives a restart or a kill. */
  readonly persistence?: boolean;
  /** Fixed port; default: a free port (retried on EADDRINUSE). */
  readonly port?: number;
  /** Extra `--name value` arguments passed to redis-server. */
  readonly extraArgs?: readonly string[];
  /** Start-up timeout; default 10 s. */
  readonly timeoutMs?: number;
}

export interface RestartOptions {
  /** SIGKILL instead of SIGTERM: the server gets no chance to flush (a crash). */
  readonly kill?: boolean;
  /** Runs while the server is down, before it is started again ("Redis restarts mid-test"). */
  readonly whileDown?: () => Promise<void> | void;
}

export interface RedisServer extends AsyncDisposable {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Working directory (AOF lives here); removed by stop(). */
  readonly dataDir: string;
  readonly running: boolean;
  /** Stops the server and removes its data dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops and starts again on the same port with the same data dir. */
  restart(opts?: RestartOptions): Promise<void>;
  /** Server output so far (of the current and earlier incarnations). */
  log(): string;
}

const HOST = "127.0.0.1";

/**
 * Starts a throwaway redis-server on 127.0.0.1 and a free port, ready when it answers
 * PING with +PONG (not -LOADING). Defaults: no RDB snapshots, no AOF.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = requireBinary("redis-server");
  const dataDir = await mkdtemp(join(tmpdir(), "edgepath-redis-"));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const persistence = opts.persistence ?? false;
  let previousLogs = "";

  const argsFor = (port: number): string[] => [
    "--port", String(port),
    "--bind", HOST,
    "--dir", dataDir,
    "--save", "",
    "--daemonize", "no",
    "--logfile", "",
    ...(persistence ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
    ...(opts.extraArgs ?? []),
  ];

  const launch = async (port: number): Promise<ManagedProcess> => {
    const proc = new ManagedProcess(binary, argsFor(port), { cwd: dataDir });
    // PING answers +PONG only once the dataset is loaded (-LOADING before); INFO's
    // process_id proves it is this process that answers, not another one on the port.
    const mine = `process_id:${proc.pid ?? "?"}\r\n`;
    await awaitReady(
      `redis-server :${port}`,
      proc,
      async () => {
        const reply = await tcpProbe(HOST, port, "PING\r\nINFO server\r\n", 500, (r) => r.includes(mine) || r.startsWith("-"));
        return reply !== undefined && reply.startsWith("+PONG\r\n") && reply.includes(mine);
      },
      timeoutMs,
    );
    return proc;
  };

  // Port selection: see freePort() for the race; a lost race shows as EADDRINUSE in the log.
  let port = opts.port ?? (await freePort("tcp", HOST));
  let proc: ManagedProcess | undefined;
  for (let attempt = 1; proc === undefined; attempt++) {
    try {
      proc = await launch(port);
    } catch (err) {
      const retry = err instanceof ServerStartError && addressInUse(err.log) && opts.port === undefined && attempt < 5;
      if (!retry) {
        await rm(dataDir, { recursive: true, force: true });
        throw err;
      }
      port = await freePort("tcp", HOST);
    }
  }

  let current: ManagedProcess | undefined = proc;
  let stopped = false;
  const server: RedisServer = {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    dataDir,
    get running() {
      return current !== undefined && current.exitInfo === undefined;
    },
    log: () => previousLogs + (current?.log() ?? ""),
    async restart(ropts: RestartOptions = {}) {
      if (stopped) throw new Error("redis-server was stopped; cannot restart");
      if (current !== undefined) {
        await (ropts.kill === true ? current.kill() : current.stop());
        previousLogs += current.log();
        current = undefined;
      }
      await ropts.whileDown?.();
      // Same port: our own server just released it (redis sets SO_REUSEADDR, so TIME_WAIT does not block).
      current = await relaunchOnPort(launch, port);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current !== undefined) {
        await current.stop();
        previousLogs += current.log();
        current = undefined;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return server.stop();
    },
  };
  return server;
}
