/**
 * Starts the embedded system (`edgepath all`: one edge, N workers, memory store, in-process bus)
 * inside the test process on free loopback ports, exactly as `pnpm start` composes it.
 * Shared by every e2e test that does not need separate processes.
 */
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { loadConfig } from "@edgepath/config";
import type { EdgepathConfig } from "@edgepath/config";
import { runAll } from "@edgepath/cli";
import type { RunningSystem } from "@edgepath/cli";
import { freePort, freeSipPort, type UaTarget } from "@edgepath/testkit";

export interface EmbeddedSystem {
  readonly system: RunningSystem;
  readonly config: EdgepathConfig;
  /** Public SIP port: UDP and TCP on the same number. */
  readonly sipPort: number;
  readonly host: "127.0.0.1";
  /** Admin HTTP base URL, e.g. http://127.0.0.1:40123 */
  readonly adminUrl: string;
  /** Ports of the extra listeners asked for in `listeners` (bound to 127.0.0.1 on free ports). */
  readonly tlsPort?: number;
  readonly wsPort?: number;
  readonly wssPort?: number;
  stop(graceful?: boolean): Promise<void>;
}

/** Extra public listeners; tls and wss need EDGEPATH_TLS_CERT / EDGEPATH_TLS_KEY in `env`. */
export interface EmbeddedListeners {
  readonly tls?: boolean;
  readonly ws?: boolean;
  readonly wss?: boolean;
  /** Bind the UDP and TCP public listeners to 0.0.0.0 instead of 127.0.0.1 (clients still use 127.0.0.1). */
  readonly wildcard?: boolean;
}

/**
 * @param env extra EDGEPATH_* settings (override the defaults below).
 * Defaults: domain example.com, 2 workers, a fixed secret, log level "silent"
 * (set EDGEPATH_TEST_LOG=debug in the environment to see the system's logs).
 */
export async function startEmbedded(env: Record<string, string> = {}, listeners: EmbeddedListeners = {}): Promise<EmbeddedSystem> {
  const sipPort = await freeSipPort();
  const bindHost = listeners.wildcard === true ? "0.0.0.0" : "127.0.0.1";
  const httpPort = await freePort("tcp");
  const extra = (["tls", "ws", "wss"] as const).filter((t) => listeners[t] === true);
  const merged: Record<string, string> = {
    EDGEPATH_SIP_LISTEN: [`udp:${bindHost}:${sipPort}`, `tcp:${bindHost}:${sipPort}`, ...extra.map((t) => `${t}:127.0.0.1:0`)].join(","),
    EDGEPATH_INTERNAL_LISTEN: "127.0.0.1:0",
    EDGEPATH_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    EDGEPATH_DOMAINS: "example.com",
    EDGEPATH_SECRET: "e2e-test-secret-0123456789abcdef0123456789",
    EDGEPATH_WORKERS: "2",
    EDGEPATH_NODE_ID: "e2e",
    ...env,
  };
  const r = loadConfig(merged, [], "all");
  if (!r.ok) throw new Error(`embedded config invalid: ${r.errors.join("; ")}`);
  const level = process.env["EDGEPATH_TEST_LOG"] ?? "silent";
  const logger = pino({ level });
  const system = await runAll(r.config, logger);
  const portOf = (t: "tls" | "ws" | "wss"): number | undefined =>
    extra.includes(t) ? system.sipListeners.find((x) => x.transport === t)?.port : undefined;
  const [tlsPort, wsPort, wssPort] = [portOf("tls"), portOf("ws"), portOf("wss")];
  return {
    system,
    config: r.config,
    sipPort,
    ...(tlsPort !== undefined ? { tlsPort } : {}),
    ...(wsPort !== undefined ? { wsPort } : {}),
    ...(wssPort !== undefined ? { wssPort } : {}),
    host: "127.0.0.1",
    adminUrl: `http://127.0.0.1:${system.http.port}`,
    stop: (graceful = false) => system.stop(graceful),
  };
}

/**
 * One embedded system for the calling test file: started in beforeAll, stopped in afterAll.
 * `sys()` is the running system, `edge()` its public UDP/TCP address.
 */
export function embeddedForFile(env: Record<string, string> = {}, listeners: EmbeddedListeners = {}): { readonly sys: () => EmbeddedSystem; readonly edge: () => UaTarget } {
  let running: EmbeddedSystem | undefined;
  beforeAll(async () => {
    running = await startEmbedded(env, listeners);
  });
  afterAll(async () => {
    await running?.stop();
  });
  const sys = (): EmbeddedSystem => {
    if (running === undefined) throw new Error("embedded system not started (use sys() inside a test)");
    return running;
  };
  return { sys, edge: () => ({ host: "127.0.0.1", port: sys().sipPort }) };
}
