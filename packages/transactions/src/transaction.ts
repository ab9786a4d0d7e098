/**
 * The machinery every RFC 3261 §17 transaction shares: a state checked against a transition table,
 * named timers (A..M as the RFCs name them) on an injected scheduler, and sending through the
 * transport with failure reporting (§17.1.4, §17.2.4). The four state machines live in their own files.
 */
import { ownedBytes, ownedString, type SipRequest } from "@edgepath/sip";
import { TransactionError, TransactionErrorCode, TransactionStateError } from "./errors.js";
import { ownTarget } from "./keys.js";
import { keepForRetransmission } from "./retransmit-arena.js";
import { timerQueue, type TimerName, type TimerOwner, type TimerQueue } from "./timer-queue.js";
import type { ClientTransactionUser, Scheduler, SendTarget, TransactionKind, TransactionTimers, TransportSender } from "./types.js";

export type { TimerName } from "./timer-queue.js";

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

export abstract class TransactionBase<S extends string> implements TimerOwner {
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

  /**
   * The key the TransactionLayer filed this transaction under (set by the layer; undefined for a
   * transaction made outside a layer). Lets the layer share one environment per table instead of a
   * closure per transaction: a UDP transaction lives 32 s (Timer J/D), so every per-transaction
   * object is multiplied by rate x 32.
   */
  tableKey: string | undefined;

  protected readonly env: TransactionEnvironment;
  #state: S;
  readonly #table: TransitionTable<S>;
  /**
   * The running timers, in two inline slots (name, queue, ticket, callback; see TimerQueue): at most two
   * run at once (A+B, E+F, G+H), and a UDP transaction lives 32 s in Completed with one (J, D, H, L), so
   * fields cost less than an array and its backing store per transaction. Empty slots hold undefined.
   */
  #timer0: TimerName | undefined;
  #queue0: TimerQueue | undefined;
  #ticket0 = 0;
  #fire0: TimerCallback | undefined;
  #timer1: TimerName | undefined;
  #queue1: TimerQueue | undefined;
  #ticket1 = 0;
  #fire1: TimerCallback | undefined;

  /** Undefined once released (see releaseRequest). */
  #request: SipRequest | undefined;

  protected constructor(request: SipRequest, target: SendTarget, env: TransactionEnvironment, initial: S, table: TransitionTable<S>) {
    this.#request = request;
    this.target = ownTarget(target);
    this.env = env;
    this.#state = initial;
    this.#table = table;
    this.method = KNOWN_METHODS.get(request.method) ?? ownedString(request.method);
    const branch = request.topVia().branch;
    this.branch = branch === undefined ? "" : ownedString(branch);
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
   * Bytes kept for an unbounded time (an INVITE server's last provisional while the phone rings). Small
   * Buffers made by `Buffer.from(string)` are views into a shared 8 KiB pool slab, and one held view pins the
   * whole slab with everything else allocated next to it; over an unreliable transport keep an exact-size copy
   * instead. Over a reliable transport nothing is resent (Timer G/E run only over UDP), so the bytes are kept
   * as they came.
   */
  protected hold(bytes: Buffer): Buffer {
    return this.reliable ? bytes : ownedBytes(bytes);
  }

  /**
   * Bytes kept only until the transaction's last timer ends it (a final response under Timer J or G/H/I, the
   * ACK under Timer D): over an unreliable transport a copy in the shared retransmission slab, which suits
   * bytes that die in the order they were kept (see retransmit-arena.ts). Over a reliable transport most of
   * these waits are zero-length (J, K, I, D); an INVITE server's final waits for the ACK under Timer H on any
   * transport, and keeps the bytes as they came.
   */
  protected holdUntilTimer(bytes: Buffer): Buffer {
    return this.reliable ? bytes : keepForRetransmission(bytes);
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

  /**
   * Starts (or restarts) a named timer. `fire` is called with this transaction as `this`, so the
   * state machines pass their (prototype) methods rather than a closure per transaction.
   */
  protected startTimer(name: TimerName, ms: number, fire: (this: this) => void): void {
    this.clearTimer(name);
    const queue = timerQueue(this.env.scheduler, ms);
    const ticket = queue.add(this);
    if (this.#timer0 === undefined) {
      this.#timer0 = name;
      this.#queue0 = queue;
      this.#ticket0 = ticket;
      this.#fire0 = fire as TimerCallback;
    } else if (this.#timer1 === undefined) {
      this.#timer1 = name;
      this.#queue1 = queue;
      this.#ticket1 = ticket;
      this.#fire1 = fire as TimerCallback;
    } else {
      queue.cancel(ticket);
      throw new Error(`${this.kind} transaction: timer ${name} with ${this.#timer0} and ${this.#timer1} running (at most two run at once)`);
    }
  }

  protected clearTimer(name: TimerName): void {
    if (this.#timer0 === name) {
      this.#queue0!.cancel(this.#ticket0);
      this.#clearSlot0();
    } else if (this.#timer1 === name) {
      this.#queue1!.cancel(this.#ticket1);
      this.#clearSlot1();
    }
  }

  #clearSlot0(): void {
    this.#timer0 = undefined;
    this.#queue0 = undefined;
    this.#fire0 = undefined;
  }

  #clearSlot1(): void {
    this.#timer1 = undefined;
    this.#queue1 = undefined;
    this.#fire1 = undefined;
  }

  /**
   * TimerQueue's callback when an entry is due: fires the running timer it belongs to (a restarted
   * timer has a new ticket; a cleared one was cancelled in its queue and never gets here).
   * @internal
   */
  expireTimer(queue: TimerQueue, ticket: number): void {
    let fire: TimerCallback | undefined;
    if (this.#queue0 === queue && this.#ticket0 === ticket) {
      fire = this.#fire0;
      this.#clearSlot0();
    } else if (this.#queue1 === queue && this.#ticket1 === ticket) {
      fire = this.#fire1;
      this.#clearSlot1();
    }
    if (fire !== undefined && !this.terminated) fire.call(this);
  }

  /** Names of running timers (observability and tests). */
  activeTimers(): TimerName[] {
    const names: TimerName[] = [];
    if (this.#timer0 !== undefined) names.push(this.#timer0);
    if (this.#timer1 !== undefined) names.push(this.#timer1);
    return names;
  }

  private clearAllTimers(): void {
    if (this.#timer0 !== undefined) this.clearTimer(this.#timer0);
    if (this.#timer1 !== undefined) this.clearTimer(this.#timer1);
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

/**
 * The methods of RFC 3261 and its extensions as shared constants: a transaction holds its method for
 * its whole life (32 s on UDP), and a copy per transaction is 24 B times rate x 32 for nothing.
 */
const KNOWN_METHODS: ReadonlyMap<string, string> = new Map(
  ["REGISTER", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "PUBLISH"].map((m) => [m, m]),
);

/** A state machine's timer method, called with the transaction as `this`. */
type TimerCallback = (this: TransactionBase<string>) => void;

const RELEASED_USER: ClientTransactionUser = Object.freeze({
  onResponse: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
});

/**
 * What a client transaction keeps of its TU once the final response is delivered and it only waits
 * (Completed: Timer K for non-INVITE, T4 = 5 s; Timer D for INVITE, 32 s, on UDP). From then on the TU
 * hears nothing but the end (onTerminated): retransmitted finals are absorbed, and a failed ACK
 * retransmission is not worth telling a TU that already has its answer. A TU without onTerminated is
 * let go: a proxy's TU closes over the whole proxied request context.
 */
export function releasedUser(user: ClientTransactionUser): ClientTransactionUser {
  return user.onTerminated === undefined ? RELEASED_USER : user;
}
