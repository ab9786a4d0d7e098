/**
 * The HTTP side port of every process (DESIGN §5): /healthz, /readyz, /metrics and the
 * admin API under /v1. Routing is a switch on the path: a handful of fixed routes do not
 * need a framework.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, boolean>;
}

/**
 * "This process is draining" (DESIGN §5): set once on SIGTERM by the entry point, read by every
 * AdminServer of the process so /readyz turns 503 at once, whatever the role's own checks say.
 */
export class DrainState {
  #draining = false;
  get draining(): boolean {
    return this.#draining;
  }
  begin(): void {
    this.#draining = true;
  }
}

/** The process-wide drain state main.ts flips on SIGTERM. */
export const processDrain = new DrainState();

export interface AdminProviders {
  readonly role: string;
  readonly nodeId: string;
  readonly registry: Registry;
  readiness(): Readiness;
  /** Default: {@link processDrain}. */
  readonly drain?: DrainState;
  aor?(aor: string): Promise<unknown>;
  ring?(): unknown;
  flows?(): unknown;
  /**
   * Digest credentials of the embedded system (`edgepath all` keeps them in memory, DESIGN §4);
   * a cluster manages them in Redis with `ctl user` and REDIS_URL instead. PUT /v1/users/{aor}
   * with {"password": "..."} stores the HA1 values; DELETE removes them.
   */
  readonly users?: {
    add(aor: string, password: string): Promise<{ username: string; realm: string }>;
    remove(aor: string): Promise<boolean>;
  };
}

/** Largest PUT body the admin API reads (a password in JSON). */
const MAX_BODY_BYTES = 4096;

export class AdminServer {
  private server: Server | undefined;

  constructor(private readonly providers: AdminProviders) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        sendJson(res, 500, { error: "internal", message: err instanceof Error ? err.message : String(err) });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new Error(`EDGEPATH_HTTP_LISTEN: cannot listen on ${host}:${port}: ${err.code ?? err.message}`)),
      );
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    if (url.pathname.startsWith("/v1/users/")) {
      await this.handleUsers(req, res, decodeURIComponent(url.pathname.slice("/v1/users/".length)));
      return;
    }
    // HEAD is what some load balancers probe with; Node's http omits the body for it.
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      sendJson(res, 405, { error: "method-not-allowed" });
      return;
    }
    const p = this.providers;
    if (url.pathname === "/healthz") {
      sendJson(res, 200, { status: "ok", role: p.role, node: p.nodeId });
      return;
    }
    if (url.pathname === "/readyz") {
      // DESIGN §5: 503 until dependencies are connected and the ring has members, and again from
      // SIGTERM on (draining), so a load balancer or Kubernetes stops sending before we stop.
      const own = p.readiness();
      const drain = p.drain ?? processDrain;
      const r: Readiness = drain.draining ? { ready: false, checks: { ...own.checks, notDraining: false } } : own;
      sendJson(res, r.ready ? 200 : 503, { ready: r.ready, checks: r.checks });
      return;
    }
    if (url.pathname === "/metrics") {
      const body = await p.registry.metrics();
      res.writeHead(200, { "content-type": p.registry.contentType });
      res.end(body);
      return;
    }
    if (url.pathname.startsWith("/v1/aors/")) {
      if (p.aor === undefined) {
        sendJson(res, 404, { error: "not-available", message: `the ${p.role} role has no binding store; ask a registrar` });
        return;
      }
      const aor = decodeURIComponent(url.pathname.slice("/v1/aors/".length));
      let view: unknown;
      try {
        view = await p.aor(aor);
      } catch (err) {
        // The binding store is down (Redis restarting, BindingStoreUnavailableError, sipStatus 503):
        // a temporary condition, answered as HTTP says one is (RFC 9110 §15.6.4), not as a crash.
        const unavailable = unavailableError(err);
        if (unavailable === undefined) throw err;
        res.setHeader("retry-after", String(unavailable.retryAfter));
        sendJson(res, 503, { error: "store-unavailable", aor, message: unavailable.message });
        return;
      }
      sendJson(res, 200, view);
      return;
    }
    if (url.pathname === "/v1/ring" && p.ring !== undefined) {
      sendJson(res, 200, p.ring());
      return;
    }
    if (url.pathname === "/v1/flows" && p.flows !== undefined) {
      sendJson(res, 200, p.flows());
      return;
    }
    sendJson(res, 404, { error: "not-found", path: url.pathname });
  }

  private async handleUsers(req: IncomingMessage, res: ServerResponse, aor: string): Promise<void> {
    const users = this.providers.users;
    if (users === undefined) {
      sendJson(res, 404, { error: "not-available", message: `the ${this.providers.role} role keeps no credentials here; use ctl user with REDIS_URL` });
      return;
    }
    if (req.method === "DELETE") {
      const removed = await users.remove(aor);
      sendJson(res, removed ? 200 : 404, { removed, aor });
      return;
    }
    if (req.method !== "PUT") {
      res.setHeader("allow", "PUT, DELETE");
      sendJson(res, 405, { error: "method-not-allowed" });
      return;
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    let password: unknown;
    try {
      password = body === undefined ? undefined : (JSON.parse(body) as { password?: unknown }).password;
    } catch {
      password = undefined;
    }
    if (typeof password !== "string" || password === "") {
      sendJson(res, 400, { error: "bad-request", message: 'body must be JSON {"password": "<non-empty string>"} of at most 4096 bytes' });
      return;
    }
    try {
      const added = await users.add(aor, password);
      sendJson(res, 200, { added: aor, username: added.username, realm: added.realm });
    } catch (err) {
      // A malformed AOR (AuthError from credentialFor) is the client's mistake.
      sendJson(res, 400, { error: "bad-request", message: err instanceof Error ? err.message : String(err) });
    }
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => resolve(undefined));
  });
}

/** Errors that map to 503 (`sipStatus` 503, as the binding stores throw while their backend is down). */
function unavailableError(err: unknown): { message: string; retryAfter: number } | undefined {
  if (typeof err !== "object" || err === null || (err as { sipStatus?: unknown }).sipStatus !== 503) return undefined;
  const ra = (err as { retryAfter?: unknown }).retryAfter;
  return {
    message: err instanceof Error ? err.message : "binding store unavailable",
    retryAfter: typeof ra === "number" && Number.isInteger(ra) && ra > 0 ? ra : 5,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  // Probes and scrapes must never see a cached answer.
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}
