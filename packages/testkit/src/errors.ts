/**
 * Errors raised by the testkit. Each has a stable `code` so a failing test says which
 * of "binary missing", "server died", "timed out" it was (CONVENTIONS: errors are types).
 */
export class TestkitError extends Error {
  override readonly name: string = "TestkitError";
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The binary is not installed (not on PATH, /usr/sbin or /usr/bin). */
export class BinaryNotFoundError extends TestkitError {
  override readonly name = "BinaryNotFoundError";
  constructor(readonly binary: string) {
    super("binary-not-found", `${binary} not found on PATH, /usr/sbin or /usr/bin; install it (apt-get install ${binary === "nats-server" ? "nats-server" : binary === "sipp" ? "sip-tester" : "redis-server"})`);
  }
}

/** A server process exited (or failed to spawn) before it became ready; `log` holds its output. */
export class ServerStartError extends TestkitError {
  override readonly name = "ServerStartError";
  constructor(readonly server: string, message: string, readonly log: string, options?: { cause?: unknown }) {
    super("server-start-failed", `${server}: ${message}\n--- ${server} log ---\n${log}`, options);
  }
}

/** `waitFor` gave up; `lastError` is the last error the probe threw, if any. */
export class WaitTimeoutError extends TestkitError {
  override readonly name = "WaitTimeoutError";
  constructor(readonly what: string, readonly timeoutMs: number, readonly lastError?: unknown) {
    super(
      "wait-timeout",
      `timed out after ${timeoutMs} ms waiting for ${what}` +
        (lastError === undefined ? "" : ` (last error: ${describeValue(lastError)})`),
      lastError === undefined ? undefined : { cause: lastError },
    );
  }
}

function describeValue(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
