/**
 * Multi-process cluster harness (DESIGN §7): spawns `node services/edgepath/dist/main.js edge|registrar`
 * as real processes against a real redis-server and nats-server, waits for each one's
 * `edgepath-ready` line (racing an early exit, with its log in the error), and kills what it
 * started. Needs `pnpm exec tsc -b` first (the root `pnpm test` builds before vitest).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freeSipPort } from "@edgepath/testkit";

export const MAIN = fileURLToPath(new URL("../../services/edgepath/dist/main.js", import.meta.url));

export interface ReadyLine {
  readonly sip: readonly { transport: string; host: string; port: number }[];
  readonly http: { host: string; port: number };
  readonly internal: readonly string[];
}

export interface NodeProc {
  readonly id: string;
  readonly role: "edge" | "registrar";
  readonly proc: ChildProcess;
  readonly ready: ReadyLine;
  readonly adminUrl: string;
  /** Public SIP port (UDP and TCP) of an edge; 0 for a registrar. */
  readonly sipPort: number;
  log(): string;
  /** Sends `signal` and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
}

export function requireBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm exec tsc -b\` before the e2e tests`);
}

/** `sipPort`: an edge's public UDP+TCP port (default: a free one); a restart passes the old one. */
export async function startNode(role: "edge" | "registrar", id: string, env: Record<string, string>, timeoutMs = 20_000, sipPort?: number): Promise<NodeProc> {
  requireBuilt();
  sipPort ??= role === "edge" ? await freeSipPort() : 0;
  const fullEnv: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    EDGEPATH_NODE_ID: id,
    EDGEPATH_INTERNAL_LISTEN: "127.0.0.1:0",
    EDGEPATH_HTTP_LISTEN: "127.0.0.1:0",
    EDGEPATH_LOG_LEVEL: process.env["EDGEPATH_TEST_LOG"] ?? "info",
    ...(role === "edge" ? { EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}` } : {}),
    ...env,
  };
  const proc = spawn(process.execPath, [MAIN, role], { env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once("exit", () => {
      exited = true;
      resolve();
    });
  });
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${role} ${id} not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    proc.stdout?.setEncoding("utf8");
    proc.stderr?.setEncoding("utf8");
    proc.stderr?.on("data", (d: string) => (out += d));
    proc.stdout?.on("data", (d: string) => {
      out += d;
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes('"edgepath-ready"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as ReadyLine);
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${role} ${id} exited (code ${String(proc.exitCode)}) before ready:\n${out}`));
    });
  });
  return {
    id,
    role,
    proc,
    ready,
    adminUrl: `http://${ready.http.host}:${ready.http.port}`,
    sipPort,
    log: () => out,
    get exited() {
      return exited;
    },
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (exited) return;
      proc.kill(signal);
      await exit;
    },
  };
}

/** Runs `edgepath ctl ...` as a process; resolves with its exit code and output. */
export async function runCtl(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBuilt();
  const proc = spawn(process.execPath, [MAIN, "ctl", ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => proc.once("close", (c) => resolve(c)));
  return { code, stdout, stderr };
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}
