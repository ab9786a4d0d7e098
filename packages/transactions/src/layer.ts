/**
 * The transaction layer (RFC 3261 §17): owns the client and server transaction tables, matches incoming
 * requests and responses to transactions (§17.1.3, §17.2.3), creates transactions for the TU and forgets
 * them when they terminate. Transport-agnostic: bytes go out through a TransportSender; the TU feeds parsed
 * messages in. Time comes from an injected Scheduler.
 */
import { ownedBytes, ownedString, parseMessage } from "@edgepath/sip";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { TransactionError, TransactionErrorCode } from "./errors.js";
import { InviteClientTransaction } from "./invite-client.js";
import { InviteServerTransaction } from "./invite-server.js";
import { clientKey, clientKeyOfResponse, isRfc3261Branch, serverKey } from "./keys.js";
import { NonInviteClientTransaction } from "./non-invite-client.js";
import { NonInviteServerTransaction } from "./non-invite-server.js";
import { resolveTimers, systemScheduler } from "./timers.js";
import type { TransactionEnvironment } from "./transaction.js";
import type {
  ClientTransaction, ClientTransactionUser, Scheduler, SendTarget, ServerTransaction, ServerTransactionUser,
  TransactionTimers, TransportSender,
} from "./types.js";

export interface TransactionLayerOptions {
  readonly sender: TransportSender;
  /** Defaults to Node timers. */
  readonly scheduler?: Scheduler;
  /** Overrides of T1/T2/T4 (ms); defaults per RFC 3261 Appendix A. */
  readonly timers?: Partial<TransactionTimers>;
  /** Delegate for server transactions that handleRequest() creates when none is passed. */
  readonly serverUser?: ServerTransactionUser;
}

/** What handleRequest() made of a request. */
export type RequestDisposition =
  /** A new server transaction; the TU processes the request (§17.2: "passed up to the TU"). */
  | { readonly kind: "new"; readonly tx: ServerTransaction }
  /** A retransmission, absorbed by its transaction (which resent its last response if it had one). */
  | { readonly kind: "retransmission"; readonly tx: ServerTransaction }
  /** An ACK for a non-2xx final response we sent, absorbed by the INVITE server transaction (§17.2.1). */
  | { readonly kind: "ack-absorbed"; readonly tx: InviteServerTransaction }
  /**
   * An ACK the TU must handle: it matched no transaction (an ACK for a 2xx is its own transaction with a new
   * branch, §17.1.1.3 / §13.2.2.4), or it reached an INVITE server transaction in the RFC 6026 Accepted state.
   * A §16 proxy forwards it statelessly (§16.11 / §16.6 "ACK ... forwarded like any other request").
   */
  | { readonly kind: "ack-for-2xx"; readonly tx: InviteServerTransaction | undefined }
  /**
   * A new CANCEL with its own non-INVITE server transaction (§9.2: "the CANCEL ... constitutes its own
   * transaction") and the INVITE server transaction it cancels. The proxy answers the CANCEL 200 on `tx` and
   * cancels its pending client transactions (§16.10).
   */
  | { readonly kind: "cancel"; readonly tx: NonInviteServerTransaction; readonly inviteTx: InviteServerTransaction }
  /**
   * A CANCEL for which no INVITE server transaction exists. No transaction is created: RFC 3261 §16.10 "If a
   * response context is not found, the element does not have any knowledge of the request to apply the
   * CANCEL to. It MUST statelessly forward the CANCEL request" (a UAS answers 481, §9.2).
   */
  | { readonly kind: "stray-cancel" };

/** What handleResponse() made of a response. */
export type ResponseDisposition =
  /** The client transaction consumed it (and told its TU if the RFC says so). */
  | { readonly kind: "matched"; readonly tx: ClientTransaction }
  /**
   * No client transaction matches. RFC 3261 §16.7 step 1: "If none is found, the element MUST process the
   * response (even if it is an informational response) as a stateless proxy" — in practice a late 2xx to an
   * INVITE whose transaction is gone is forwarded upstream; everything else may be dropped (§18.1.2).
   */
  | { readonly kind: "stray" };

export class TransactionLayer {
  readonly timers: TransactionTimers;
  readonly #sender: TransportSender;
  readonly #scheduler: Scheduler;
  readonly #serverUser: ServerTransactionUser;
  readonly #client = new Map<string, ClientTransaction>();
  readonly #server = new Map<string, ServerTransaction>();
  /** One environment per table, shared by its transactions (each carries its own tableKey). */
  readonly #serverEnv: TransactionEnvironment;
  readonly #clientEnv: TransactionEnvironment;
  #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(opts: TransactionLayerOptions) {
    this.#sender = opts.sender;
    this.#scheduler = opts.scheduler ?? systemScheduler;
    this.timers = resolveTimers(opts.timers);
    this.#serverUser = opts.serverUser ?? {};
    this.#serverEnv = this.#envFor(this.#server);
    this.#clientEnv = this.#envFor(this.#client);
  }

  /**
   * Matches a received request to a server transaction (§17.2.3) and acts on it; creates the server
   * transaction when it is new. `source` is where responses go (the TU derives it from Via received/rport
   * or the flow it arrived on, §18.2.2). `user` overrides the layer's default server delegate.
   * Accessors of a malformed request may throw SipParseError; the edge only lets valid messages through.
   */
  handleRequest(req: SipRequest, source: SendTarget, user?: ServerTransactionUser): RequestDisposition {
    this.#assertRunning();
    const key = serverKey(req);
    const existing = this.#server.get(key);

    if (req.method === "ACK") {
      if (existing?.kind !== "invite-server" || !this.#ackToTagMatches(existing, req)) {
        return { kind: "ack-for-2xx", tx: undefined };
      }
      const disposition = existing.receiveAck();
      return disposition === "to-tu" ? { kind: "ack-for-2xx", tx: existing } : { kind: "ack-absorbed", tx: existing };
    }

    if (existing !== undefined) {
      existing.receiveRetransmission();
      return { kind: "retransmission", tx: existing };
    }

    if (req.method === "CANCEL") {
      const inviteTx = this.findInviteServerTransactionForCancel(req);
      if (inviteTx === undefined) return { kind: "stray-cancel" };
      const owned = ownedString(key);
      const tx = this.#fileServer(owned, new NonInviteServerTransaction(req, source, user ?? this.#serverUser, this.#serverEnv));
      return { kind: "cancel", tx, inviteTx };
    }

    return { kind: "new", tx: this.createServer(req, source, user) };
  }

  /**
   * Creates a server transaction for `req` without matching (handleRequest() does both). Throws
   * TransactionError "duplicate-transaction" if one exists, "ack-not-transaction" for ACK.
   */
  createServer(req: SipRequest, source: SendTarget, user?: ServerTransactionUser): ServerTransaction {
    this.#assertRunning();
    if (req.method === "ACK") throw new TransactionError(TransactionErrorCode.ackNotTransaction, "ACK does not create a server transaction (RFC 3261 §17.2.3)");
    // keys are slices of the message text; a key held for Timer J must not keep the whole request alive
    const key = ownedString(serverKey(req));
    if (this.#server.has(key)) throw new TransactionError(TransactionErrorCode.duplicate, `a server transaction for ${req.method} branch ${req.topVia().branch ?? "(none)"} exists`);
    const env = this.#serverEnv;
    const u = user ?? this.#serverUser;
    return this.#fileServer(key, req.method === "INVITE"
      ? new InviteServerTransaction(req, source, u, env)
      : new NonInviteServerTransaction(req, source, u, env));
  }

  /**
   * Starts a client transaction: files it under (top Via branch, method) and sends the request (§17.1).
   * `request` may be bytes (parsed once here) or an already parsed request whose `toBuffer()` is what goes
   * on the wire. The top Via must carry an RFC 3261 branch (§8.1.1.7); ACK is never a client transaction
   * (§17.1: a 2xx ACK is sent by the TU directly, a non-2xx ACK by the INVITE transaction).
   * A transport failure on the first send terminates the transaction before this returns (the TU has been
   * told through onTransportError).
   */
  createClient(request: SipRequest | Buffer, target: SendTarget, user: ClientTransactionUser): ClientTransaction {
    this.#assertRunning();
    const req = Buffer.isBuffer(request) ? parseRequest(keptInvite(request)) : request;
    if (req.method === "ACK") throw new TransactionError(TransactionErrorCode.ackNotTransaction, "ACK is not sent in a client transaction (RFC 3261 §17.1)");
    const branch = req.topVia().branch;
    if (!isRfc3261Branch(branch)) throw new TransactionError(TransactionErrorCode.missingBranch, `client request top Via needs a branch starting with z9hG4bK (RFC 3261 §8.1.1.7), got ${branch ?? "none"}`);
    const key = ownedString(clientKey(branch, req.method) as string);
    if (this.#client.has(key)) throw new TransactionError(TransactionErrorCode.duplicate, `a client transaction for ${req.method} branch ${branch} exists`);
    const env = this.#clientEnv;
    const tx: ClientTransaction = req.method === "INVITE"
      ? new InviteClientTransaction(req, target, user, env)
      : new NonInviteClientTransaction(req, target, user, env);
    tx.tableKey = key;
    this.#client.set(key, tx);
    tx.start();
    return tx;
  }

  /** Matches a response to a client transaction (§17.1.3) and lets it consume the response. */
  handleResponse(res: SipResponse): ResponseDisposition {
    const tx = this.findClientTransaction(res);
    if (tx === undefined) return { kind: "stray" };
    tx.receiveResponse(res);
    return { kind: "matched", tx };
  }

  findClientTransaction(res: SipResponse): ClientTransaction | undefined {
    const key = clientKeyOfResponse(res);
    return key === undefined ? undefined : this.#client.get(key);
  }

  /** The server transaction `req` belongs to (ACK: the INVITE's), without acting on it. */
  findServerTransaction(req: SipRequest): ServerTransaction | undefined {
    return this.#server.get(serverKey(req));
  }

  /**
   * RFC 3261 §9.2: "the transaction ... to be cancelled ... [is found with] the same matching rules as
   * §17.2.3, except ... the method of the request ... is INVITE": same branch and sent-by as the CANCEL.
   */
  findInviteServerTransactionForCancel(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.#server.get(serverKey(cancel, "INVITE"));
    return tx?.kind === "invite-server" ? tx : undefined;
  }

  /** Live transactions (metrics). */
  size(): number {
    return this.#client.size + this.#server.size;
  }

  sizes(): { readonly client: number; readonly server: number } {
    return { client: this.#client.size, server: this.#server.size };
  }

  /** Resolves once no transaction is live (graceful shutdown: stop feeding new requests, then await). */
  whenIdle(): Promise<void> {
    if (this.size() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Hard stop: every transaction is aborted (timers cleared, TU's onTerminated called, nothing sent) and
   * further use throws TransactionError "stopped". Idempotent.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const tx of [...this.#client.values(), ...this.#server.values()]) tx.abort();
    this.#client.clear();
    this.#server.clear();
    this.#wakeIdle();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #assertRunning(): void {
    if (this.#stopped) throw new TransactionError(TransactionErrorCode.stopped, "transaction layer stopped");
  }

  #fileServer<T extends ServerTransaction>(key: string, tx: T): T {
    tx.tableKey = key;
    this.#server.set(key, tx);
    return tx;
  }

  #envFor(table: Map<string, unknown>): TransactionEnvironment {
    return {
      sender: this.#sender,
      scheduler: this.#scheduler,
      timers: this.timers,
      onTerminated: (tx) => {
        // Only forget the entry if it is still this transaction (it always is: keys are unique while live).
        const key = tx.tableKey;
        if (key !== undefined && table.get(key) === tx) table.delete(key);
        if (this.size() === 0) this.#wakeIdle();
      },
    };
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** §17.2.3 RFC 2543 rule: "the To tag of the ACK matches the To tag of the response sent by the server
   * transaction". With an RFC 3261 branch the key already decided. */
  #ackToTagMatches(tx: InviteServerTransaction, ack: SipRequest): boolean {
    if (isRfc3261Branch(ack.topVia().branch)) return true;
    const sent = tx.responseToTag;
    return sent === undefined || sent === ack.toTag();
  }
}

const INVITE_SP = Buffer.from("INVITE ", "latin1");

/**
 * An INVITE client transaction keeps its request until the final response: minutes while a phone
 * rings (Timer C), for retransmissions and for the CANCEL and ACK built from it. Bytes that are a
 * view into a shared pool (Buffer.from(string), the editor's output) would pin the pool's 8 KiB
 * for that long, so an INVITE gets an exact-size copy. Other requests are answered within
 * milliseconds and keep the bytes they came in.
 */
function keptInvite(bytes: Buffer): Buffer {
  if (bytes.length < 7) return bytes;
  for (let i = 0; i < 7; i++) if (bytes[i] !== INVITE_SP[i]) return bytes;
  return ownedBytes(bytes);
}

function parseRequest(bytes: Buffer): SipRequest {
  const parsed = parseMessage(bytes);
  if (!parsed.ok) throw new TransactionError(TransactionErrorCode.unparseableRequest, `client request does not parse: ${parsed.error.message}`, { cause: parsed.error });
  if (parsed.message.kind !== "request") throw new TransactionError(TransactionErrorCode.unparseableRequest, "createClient() needs a request, got a response");
  return parsed.message;
}
