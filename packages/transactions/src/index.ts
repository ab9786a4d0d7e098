/**
 * @edgepath/transactions — RFC 3261 §17 client and server transactions as explicit state machines
 * (with the RFC 6026 Accepted state), named timers on an injected scheduler, and a TransactionLayer that
 * matches messages to transactions. Used by the transaction-stateful proxy core (RFC 3261 §16).
 */
export { TransactionLayer } from "./layer.js";
export type { TransactionLayerOptions, RequestDisposition, ResponseDisposition } from "./layer.js";
export { InviteClientTransaction, INVITE_CLIENT_TRANSITIONS } from "./invite-client.js";
export type { InviteClientState } from "./invite-client.js";
export { NonInviteClientTransaction, NON_INVITE_CLIENT_TRANSITIONS } from "./non-invite-client.js";
export type { NonInviteClientState } from "./non-invite-client.js";
export { InviteServerTransaction, INVITE_SERVER_TRANSITIONS } from "./invite-server.js";
export type { InviteServerState, AckDisposition } from "./invite-server.js";
export { NonInviteServerTransaction, NON_INVITE_SERVER_TRANSITIONS } from "./non-invite-server.js";
export type { NonInviteServerState } from "./non-invite-server.js";
export { TransactionBase } from "./transaction.js";
export type { TimerName, TransactionEnvironment, TransitionTable } from "./transaction.js";
export { buildAckForNon2xx, buildCancel } from "./ack.js";
export { clientKey, serverKey, isRfc3261Branch } from "./keys.js";
export { DEFAULT_TIMERS, TIMER_D_MIN_MS, resolveTimers, systemScheduler } from "./timers.js";
export { TransactionStateError, TransactionError, TransactionErrorCode } from "./errors.js";
export type {
  TransactionTimers, Scheduler, SendTarget, SendOutcome, TransportSender, TransportName, TransactionKind,
  ClientTransaction, ServerTransaction, Transaction, ClientTransactionUser, ServerTransactionUser,
} from "./types.js";
