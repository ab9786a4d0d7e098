/**
 * The machinery every RFC 3261 §17 transaction shares: a state checked against a transition table,
 * named timers (A..M as the RFCs name them) on an injected scheduler, and sending through the
 * transport with failure reporting (§17.1.4, §17.2.4). The four state machines live in their own files.
 */
import type { SipRequest } from "@edgepath/sip";
import { TransactionError, TransactionErrorCode, TransactionStateError } from "./errors.js";
import { own } from "./keys.js";
import type { Scheduler, SendTarget, TransactionKind, TransactionTimers, TransportSender } from "./types.js";

/** Timer names as RFC 3261 §17 (A..K) and RFC 6026 (L, M) spell them. */
export type TimerName = "A" | "B" | "D" | "E" | "F" | "G" | "H" | "I" | "J" | "K" | "L" | "M";

/** What a transaction needs from its surroundings; the TransactionLayer provides it. */
export interface TransactionEnvironment {
  readonly sender: TransportSender;
  readonly scheduler: Scheduler;
  readonly timers: TransactionTimers;
  /** Called once when the transaction reaches Terminated (the layer drops it from its tables). */
  readonly onTerminated?: ((tx: TransactionBase<string>) => void) | undefined;
}

export type TransitionTable<S extends string> = { readonly [K in S]: readonly S[] };

const TERMINATED = "Terminated";

export abstract class TransactionBase<S extends string> {
  abstract readonly kind: TransactionKind;
  /** Client: where the request goes. Server: where responses go (the request's source). */
  readonly target: SendTarget;
  /** Top Via branch of `request` ("" when absent: RFC 2543 peer, server side only). */
  readonly branch: string;
  /** Method that created the transaction. */
  readonly method: string;
  /** Scheduler time at creation, for metrics. */
  readonly createdAt: number;
  /** Whether `target`'s transport is reliable, fixed at creation. */
  readonly reliable: boolean;

  protected readonly env: TransactionEnvironment;
  #state: S;
  readonly #table: TransitionTable<S>;
  readonly #timers = new Map<TimerName, unknown>();

  /** Undefined once released (see releaseRequest). */
  #request: SipRequest | undefined;

  protected constructor(request: SipRequest, target: SendTarget, env: TransactionEnvironment, initial: S, table: TransitionTable<S>) {
    this.#request = request;
    this.target = target;
    this.env = env;
    this.#state = initial;
    this.#table = table;
    this.method = own(request.method);
    const branch = request.topVia().branch;
    this.branch = branch === undefined ? "" : own(branch);
    this.createdAt = env.scheduler.now();
    this.reliable = env.sender.reliable(target);
  }

  /**
   * The request that created the transaction (server: received; client: sent), while the transaction still
   * needs it. Released once the final response is sent (server) or received (client): from then on RFC 3261
   * §17.2.1/§17.2.2 (Completed, Confirmed, RFC 6026 Accepted) only resend the final response, §17.1.1.2 only
   * resends the ACK already built, and §17.1.2.2 only absorbs. Matching uses the layer's key, not the request.
   * A UDP server transaction waits 32 s in Completed (Timer J), so holding the parsed request there was most
   * of a worker's memory under REGISTER load. Reading it after the release throws TransactionError
   * "request-released" (a TU that needs the request later keeps its own reference).
   */
  get request(): SipRequest {
    const request = this.#request;
    if (request === undefined) {
      throw new TransactionError(TransactionErrorCode.requestReleased, `${this.kind} ${this.method} transaction (branch ${this.branch || "none"}) released its request after the final response`);
    }
    return request;
  }

  /** Whether `request` is still available (false once the final response has been sent or received). */
  get holdsRequest(): boolean {
    return this.#request !== undefined;
  }

  /**
   * The bytes a transaction keeps to resend while it waits out a timer (Timer G/H/J, D). Small Buffers made
   * by `Buffer.from(string)` are views into a shared 8 KiB pool slab, and one held view pins the whole slab
   * with everything else allocated next to it; for an unreliable transport (held for 32 s) keep an exact-size
   * copy instead. Reliable transports terminate at once (zero-length wait timers), so no copy.
   */
  protected hold(bytes: Buffer): Buffer {
    if (this.reliable || (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length)) return bytes;
    const copy = Buffer.allocUnsafeSlow(bytes.length);
    bytes.copy(copy);
    return copy;
  }

  /** Drops the parsed request (and with it the received datagram it points into). */
  protected releaseRequest(): void {
    this.#request = undefined;
  }

  get state(): S {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === TERMINATED;
  }

  /**
   * The one way state changes. Throws TransactionStateError for a move the RFC's state diagram
   * (§17.1.1.2 Fig. 5, §17.1.2.2 Fig. 6, §17.2.1 Fig. 7, §17.2.2 Fig. 8, RFC 6026 §7) does not have.
   * Entering Terminated clears every timer, lets the layer forget the transaction, runs `report`
   * (the TU's onTimeout / onTransportError, so the TU sees the cause while the state already reads
   * Terminated) and finally the TU's onTerminated.
   */
  protected transition(to: S, report?: () => void): void {
    const from = this.#state;
    if (!this.#table[from].includes(to)) throw new TransactionStateError(this.kind, from, to);
    this.#state = to;
    if (to === TERMINATED) {
      this.clearAllTimers();
      this.env.onTerminated?.(this);
      report?.();
      this.notifyTerminated();
    }
  }

  /** Shorthand for `transition("Terminated", report)`. */
  protected terminate(report?: () => void): void {
    this.transition(TERMINATED as S, report);
  }

  /** Tells the TU the transaction is over (after the layer forgot it). */
  protected abstract notifyTerminated(): void;
  /** Tells the TU the transport failed (the transaction is already Terminated). */
  protected abstract notifyTransportError(error: Error): void;

  /** Starts (or restarts) a named timer. */
  protected startTimer(name: TimerName, ms: number, fire: () => void): void {
    this.clearTimer(name);
    const handle = this.env.scheduler.setTimeout(() => {
      this.#timers.delete(name);
      if (!this.terminated) fire();
    }, ms);
    this.#timers.set(name, handle);
  }

  protected clearTimer(name: TimerName): void {
    const handle = this.#timers.get(name);
    if (handle === undefined) return;
    this.#timers.delete(name);
    this.env.scheduler.clearTimeout(handle);
  }

  /** Names of running timers (observability and tests). */
  activeTimers(): TimerName[] {
    return [...this.#timers.keys()];
  }

  private clearAllTimers(): void {
    for (const handle of this.#timers.values()) this.env.scheduler.clearTimeout(handle);
    this.#timers.clear();
  }

  /**
   * Hands bytes to the transport. On failure (throw or `{ ok: false }`) the transaction goes to
   * Terminated and the TU hears about it (RFC 3261 §17.1.4: "the client transaction SHOULD inform the TU
   * that a transport failure has occurred, and the client transaction SHOULD transition directly to the
   * Terminated state"; §17.2.4 likewise for servers). Returns whether the send succeeded.
   */
  protected send(bytes: Buffer): boolean {
    let failure: Error | undefined;
    try {
      const outcome = this.env.sender.send(bytes, this.target);
      if (outcome !== undefined && !outcome.ok) {
        failure = new TransactionError(TransactionErrorCode.transport, `send to ${describe(this.target)} failed: ${outcome.reason}`, { sipStatus: 503 });
      }
    } catch (cause) {
      failure = new TransactionError(TransactionErrorCode.transport, `send to ${describe(this.target)} failed`, { cause, sipStatus: 503 });
    }
    if (failure === undefined) return true;
    const error = failure;
    if (!this.terminated) this.terminate(() => this.notifyTransportError(error));
    return false;
  }

  /**
   * Ends the transaction without further messages (layer shutdown, or a TU giving up on it).
   * Not an RFC event: used by TransactionLayer.stop() and for TU-driven clean-up.
   */
  abort(): void {
    if (!this.terminated) this.terminate();
  }
}

function describe(t: SendTarget): string {
  return `${t.transport}:${t.address.includes(":") ? `[${t.address}]` : t.address}:${t.port}`;
}
