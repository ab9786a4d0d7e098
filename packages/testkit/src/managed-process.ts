import { spawn, type ChildProcess } from "node:child_process";

/** Keep this much of a server's output for failure messages. */
const LOG_LIMIT = 256 * 1024;

/** Children still running, killed synchronously if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing that still works there.
  process.once("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

function cap(s: string): string {
  return s.length > LOG_LIMIT ? s.slice(-LOG_LIMIT) : s;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when spawn itself failed (ENOENT, EACCES). */
  readonly error?: Error;
}

/**
 * One child process with its combined stdout/stderr kept (bounded) and an `exited`
 * promise that always resolves — spawn errors included — so callers can race it.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  #log = "";
  #stdout = "";
  #stderr = "";
  #exit: ExitInfo | undefined;

  constructor(readonly command: string, readonly args: readonly string[], opts: { cwd?: string } = {}) {
    installExitHook();
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      // Own process group is not needed: we track the pid and kill it directly.
    });
    live.add(this.child);
    this.child.stdout?.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.#log = cap(this.#log + text);
      this.#stdout = cap(this.#stdout + text);
    });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.#log = cap(this.#log + text);
      this.#stderr = cap(this.#stderr + text);
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once("error", (error) => {
        // 'exit' may not follow a spawn error.
        live.delete(this.child);
        this.#exit ??= { code: null, signal: null, error };
        resolve(this.#exit);
      });
      this.child.once("close", (code, signal) => {
        live.delete(this.child);
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** `undefined` while running. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** stdout and stderr interleaved as received (last 256 KiB). */
  log(): string {
    return this.#log;
  }

  stdout(): string {
    return this.#stdout;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.#exit !== undefined) return this.#exit;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Immediate SIGKILL (a crash, as far as the server's clients can tell). */
  async kill(): Promise<ExitInfo> {
    if (this.#exit !== undefined) return this.#exit;
    this.child.kill("SIGKILL");
    return this.exited;
  }
}

export function describeExit(info: ExitInfo): string {
  if (info.error !== undefined) return `failed to start: ${info.error.message}`;
  if (info.signal !== null) return `killed by ${info.signal}`;
  return `exited with code ${info.code ?? "?"}`;
}
