/**
 * Typed transaction-layer errors (CONVENTIONS §8): one class per failure, `name` set,
 * a stable `code`, `cause` kept.
 */
import type { TransactionKind } from "./types.js";

/** A state machine was asked to make a move RFC 3261 §17 does not allow. A bug, never input-driven. */
export class TransactionStateError extends Error {
  override readonly name = "TransactionStateError";
  readonly code = "illegal-transition";
  readonly kind: TransactionKind;
  readonly from: string;
  readonly to: string;

  constructor(kind: TransactionKind, from: string, to: string) {
    super(`${kind}: illegal transition ${from} -> ${to}`);
    this.kind = kind;
    this.from = from;
    this.to = to;
  }
}

export const TransactionErrorCode = {
  /** createClient() was given bytes that do not parse as a request. */
  unparseableRequest: "unparseable-request",
  /** ACK is never a client transaction of its own (RFC 3261 §17.1: "ACK ... not a transaction"). */
  ackNotTransaction: "ack-not-transaction",
  /** A client request must carry an RFC 3261 branch (magic cookie) so responses can be matched (§17.1.3, §8.1.1.7). */
  missingBranch: "missing-branch",
  /** A transaction with the same matching key already exists. */
  duplicate: "duplicate-transaction",
  /** The layer was stopped. */
  stopped: "stopped",
  /** TransportSender.send() threw or reported failure (RFC 3261 §17.1.4, §17.2.4). */
  transport: "transport-error",
  /**
   * The request was read after the transaction released it: once the final response is sent (server) or
   * received (client), RFC 3261 §17 needs only the bytes it resends, so the parsed request is dropped.
   */
  requestReleased: "request-released",
} as const;
export type TransactionErrorCode = (typeof TransactionErrorCode)[keyof typeof TransactionErrorCode];

/** Misuse of the transaction layer API or a failure reported by the transport. */
export class TransactionError extends Error {
  override readonly name = "TransactionError";
  readonly code: TransactionErrorCode;
  /**
   * Where one maps: 503 for transport failures (RFC 3261 §16.9: a proxy "MUST behave as if the forwarded
   * request received a 503"); undefined for API misuse.
   */
  readonly sipStatus: number | undefined;

  constructor(code: TransactionErrorCode, message: string, opts?: { cause?: unknown; sipStatus?: number }) {
    super(message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.code = code;
    this.sipStatus = opts?.sipStatus;
  }
}
