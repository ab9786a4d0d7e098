import { readFile } from "node:fs/promises";
import {
  connect,
  credsAuthenticator,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NodeConnectionOptions,
  type Subscription as NatsSubscription,
} from "@nats-io/transport-node";
import { BusError, isValidPattern, isValidSubject, type BusMessage, type ClusterBus, type Subscription } from "@edgepath/cluster";

export interface NatsTlsOptions {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Default true; false only for test rigs with self-signed servers. */
  readonly rejectUnauthorized?: boolean;
}

export interface NatsClusterBusOptions {
  /** `nats://host:port` (or `tls://`), one or several for a NATS cluster. */
  readonly servers: string | readonly string[];
  /** Client name shown by the server's monitoring (`connz`): use the member id. */
  readonly name: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** Path of a `.creds` file (JWT + nkey seed, NATS decentralised auth). */
  readonly credsFile?: string;
  /** TLS to the server; `true` = system CAs. */
  readonly tls?: NatsTlsOptions | true;
  /** Connection problems and handler exceptions; the bus never logs by itself. */
  readonly onError?: (err: Error) => void;
  /** Connect timeout for the first connection; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Reconnect backoff: first delay (default 250 ms), doubling up to `reconnectMaxMs` (default 5000). */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

/**
 * Reported through `onError` (never thrown): a handler threw, a publish failed in
 * nats.js, or the connection reported a problem. Misuse (bad subject, closed bus)
 * throws `BusError` from @edgepath/cluster, as the ClusterBus contract says.
 */
export class ClusterBusError extends Error {
  override readonly name = "ClusterBusError";
  constructor(
    readonly code: "handler-failed" | "publish-failed" | "connection" | "subscription",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One received message; headers and JSON are decoded lazily (most consumers read one). */
class NatsBusMessage implements BusMessage {
  #headers: ReadonlyMap<string, string> | undefined;
  constructor(readonly msg: Msg) {}
  get subject(): string {
    return this.msg.subject;
  }
  get data(): Uint8Array {
    return this.msg.data;
  }
  get headers(): ReadonlyMap<string, string> {
    this.#headers ??= headerMap(this.msg.headers);
    return this.#headers;
  }
  json<T>(): T {
    return JSON.parse(decoder.decode(this.msg.data)) as T;
  }
}

function headerMap(h: MsgHdrs | undefined): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (h === undefined) return out;
  for (const [k, values] of h) {
    const first = values[0];
    if (first !== undefined) out.set(k, first);
  }
  return out;
}

/**
 * `ClusterBus` over NATS core pub/sub (DESIGN §4: NATS carries what changes).
 *
 * - Payloads: bytes as given, strings UTF-8, objects JSON. Headers travel as NATS
 *   headers (NATS 2.2+), which is where W3C trace context (`traceparent`) rides.
 * - Publishing is fire-and-forget: nats.js appends to an outbound buffer and writes it
 *   on the next tick, so bursts are naturally batched into few socket writes; call
 *   flush() when you need a round trip to the server (tests, shutdown).
 * - While disconnected nats.js keeps publishing into its reconnect buffer (8 MiB) and
 *   resubscribes on reconnect; core NATS is at-most-once, so consumers treat events as
 *   hints and re-read Redis, the truth.
 * - Reconnects forever with exponential backoff + jitter; `connected` follows the
 *   connection's status events.
 */
export class NatsClusterBus implements ClusterBus {
  readonly #nc: NatsConnection;
  readonly #onError: (err: Error) => void;
  readonly #subs = new Set<NatsSubscription>();
  #connected = true;
  #closing: Promise<void> | undefined;

  private constructor(nc: NatsConnection, onError: (err: Error) => void) {
    this.#nc = nc;
    this.#onError = onError;
    void this.#watchStatus();
  }

  static async connect(opts: NatsClusterBusOptions): Promise<NatsClusterBus> {
    const onError = opts.onError ?? (() => undefined);
    const min = opts.reconnectMinMs ?? 250;
    const max = opts.reconnectMaxMs ?? 5000;
    let attempt = 0;
    const connOpts: NodeConnectionOptions = {
      servers: typeof opts.servers === "string" ? opts.servers : [...opts.servers],
      name: opts.name,
      timeout: opts.connectTimeoutMs ?? 5000,
      maxReconnectAttempts: -1, // forever
      reconnectDelayHandler: () => {
        // Called once per failed round over the server list.
        const base = Math.min(max, min * 2 ** Math.min(attempt++, 16));
        return base / 2 + Math.random() * (base / 2);
      },
      ...(opts.user !== undefined ? { user: opts.user } : {}),
      ...(opts.pass !== undefined ? { pass: opts.pass } : {}),
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.credsFile !== undefined ? { authenticator: credsAuthenticator(await readFile(opts.credsFile)) } : {}),
      ...(opts.tls === true ? { tls: {} } : opts.tls !== undefined ? { tls: { ...opts.tls } } : {}),
    };
    const nc = await connect(connOpts);
    const bus = new NatsClusterBus(nc, onError);
    bus.#resetBackoff = () => {
      attempt = 0;
    };
    return bus;
  }

  #resetBackoff: () => void = () => undefined;

  /** The link is up (false while reconnecting and after close). Publishes made while
   * disconnected are buffered by nats.js and sent on reconnect. */
  get connected(): boolean {
    return this.#connected && this.#closing === undefined && !this.#nc.isClosed();
  }

  /** The server the connection is currently on (`host:port`). */
  get server(): string {
    return this.#nc.getServer();
  }

  publish(subject: string, data: Uint8Array | string | object, headers?: Record<string, string>): void {
    if (this.#closing !== undefined) throw new BusError("closed", "bus is closed");
    if (!isValidSubject(subject)) throw new BusError("bad-subject", `invalid publish subject "${subject}"`);
    try {
      const payload = data instanceof Uint8Array ? data : typeof data === "string" ? encoder.encode(data) : encoder.encode(JSON.stringify(data));
      if (headers === undefined) {
        this.#nc.publish(subject, payload);
        return;
      }
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      this.#nc.publish(subject, payload, { headers: h });
    } catch (err) {
      this.#onError(new ClusterBusError("publish-failed", `publish to ${subject} failed: ${message(err)}`, { cause: err }));
    }
  }

  subscribe(subject: string, handler: (m: BusMessage) => void): Subscription {
    if (this.#closing !== undefined) throw new BusError("closed", "bus is closed");
    if (!isValidPattern(subject)) throw new BusError("bad-subject", `invalid subscription subject "${subject}"`);
    const sub = this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.#onError(new ClusterBusError("subscription", `subscription ${subject}: ${err.message}`, { cause: err }));
          return;
        }
        try {
          handler(new NatsBusMessage(msg));
        } catch (e) {
          // A throwing handler must not kill the subscription or the connection.
          this.#onError(new ClusterBusError("handler-failed", `handler for ${msg.subject} threw: ${message(e)}`, { cause: e }));
        }
      },
    });
    this.#subs.add(sub);
    return {
      unsubscribe: () => {
        if (!this.#subs.delete(sub)) return;
        if (!this.#nc.isClosed()) sub.unsubscribe();
      },
    };
  }

  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  /**
   * Drains (delivers what is in flight, flushes our publishes) when connected, otherwise
   * closes at once. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#subs.clear();
      if (this.#nc.isClosed()) return;
      try {
        if (this.#connected) await this.#nc.drain();
        else await this.#nc.close();
      } catch (err) {
        this.#onError(new ClusterBusError("connection", `close: ${message(err)}`, { cause: err }));
        await this.#nc.close().catch(() => undefined);
      }
    })();
    return this.#closing;
  }

  async #watchStatus(): Promise<void> {
    try {
      for await (const s of this.#nc.status()) {
        switch (s.type) {
          case "disconnect":
            this.#connected = false;
            this.#onError(new ClusterBusError("connection", `disconnected from ${s.server}`));
            break;
          case "reconnect":
            this.#connected = true;
            this.#resetBackoff();
            break;
          case "close":
            this.#connected = false;
            break;
          case "error":
            this.#onError(new ClusterBusError("connection", s.error.message, { cause: s.error }));
            break;
          case "slowConsumer":
            this.#onError(new ClusterBusError("subscription", `slow consumer on ${s.sub.getSubject()}: ${s.pending} pending`));
            break;
          default:
            break;
        }
      }
    } catch (err) {
      this.#onError(new ClusterBusError("connection", `status watch ended: ${message(err)}`, { cause: err }));
    }
    this.#connected = false;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
