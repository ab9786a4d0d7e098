/**
 * The transaction layer's seams: clock, timers, transport and the delegate interfaces the
 * transaction user (TU, RFC 3261 §17: here the §16 proxy core) implements.
 */
import type { SipResponse } from "@edgepath/sip";
import type { InviteClientTransaction } from "./invite-client.js";
import type { NonInviteClientTransaction } from "./non-invite-client.js";
import type { InviteServerTransaction } from "./invite-server.js";
import type { NonInviteServerTransaction } from "./non-invite-server.js";

/**
 * RFC 3261 §17.1.1.1 / Table 4: T1 (RTT estimate, default 500 ms), T2 (maximum retransmit interval
 * for non-INVITE requests and INVITE responses, default 4 s), T4 (maximum time a message stays in the
 * network, default 5 s). All in milliseconds.
 */
export interface TransactionTimers {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
}

/** Injected clock so state machines are testable without wall time. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export type TransportName = "udp" | "tcp" | "tls" | "ws" | "wss";

/** Where to send: for responses, the request's source as the TU computed it from Via received/rport (§18.2.2). */
export interface SendTarget {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
}

/**
 * A send outcome, structurally compatible with `@edgepath/transport`'s `SendResult`.
 * `send()` may also return nothing (success) or throw (failure).
 */
export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface TransportSender {
  send(bytes: Buffer, target: SendTarget): void | SendOutcome;
  /**
   * Reliable transports (TCP, TLS, WS, WSS) do not get retransmissions (Timers A, E, G not started)
   * and have zero-length wait timers D, I, J, K (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
   */
  readonly reliable: (target: SendTarget) => boolean;
}

export type TransactionKind = "invite-client" | "non-invite-client" | "invite-server" | "non-invite-server";

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
export type Transaction = ClientTransaction | ServerTransaction;

/**
 * What the TU (the §16 proxy's response context) hears from a client transaction.
 * Delegates must not throw: they run inside timer callbacks.
 */
export interface ClientTransactionUser {
  /**
   * Every response the transaction passes up: provisional, the first final, and (RFC 6026 §7.2) each 2xx
   * retransmission or 2xx from another fork received in the Accepted state, which a proxy forwards
   * (RFC 6026 §8.4). Retransmitted non-2xx finals are absorbed (§17.1.1.2, §17.1.2.2).
   */
  onResponse(response: SipResponse, tx: ClientTransaction): void;
  /** Timer B (INVITE) or Timer F (non-INVITE) fired: the proxy treats it as a 408 (RFC 3261 §16.8). */
  onTimeout(tx: ClientTransaction): void;
  /** The transport failed to send: the proxy treats it as a 503 (RFC 3261 §16.9, §17.1.4). */
  onTransportError(tx: ClientTransaction, error: Error): void;
  /** The transaction reached Terminated and left the layer's tables. */
  onTerminated?(tx: ClientTransaction): void;
}

/** What the TU hears from a server transaction. All optional: a proxy mostly drives server transactions. */
export interface ServerTransactionUser {
  /**
   * Timer H fired in the Completed state: no ACK for a non-2xx final (RFC 3261 §17.2.1: "MUST indicate
   * to the TU that a transaction failure has occurred").
   */
  onTimeout?(tx: InviteServerTransaction): void;
  /**
   * The first final response (200-699) went out through the transport (metrics: time to final response is
   * `now - tx.createdAt`). Not called when the send failed (that is onTransportError).
   */
  onFinalResponse?(tx: ServerTransaction, status: number): void;
  /** Sending a response failed (RFC 3261 §17.2.4); the transaction is Terminated. */
  onTransportError?(tx: ServerTransaction, error: Error): void;
  onTerminated?(tx: ServerTransaction): void;
}
