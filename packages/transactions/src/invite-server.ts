/**
 * INVITE server transaction, RFC 3261 §17.2.1 (Figure 7) as updated by RFC 6026 §7.1 (Accepted state).
 *
 *   Proceeding --1xx from TU--> (sent)    Proceeding --INVITE retransmission--> resend last 1xx
 *   Proceeding --300-699 from TU--> Completed (Timer G unreliable, Timer H)
 *   Completed --ACK--> Confirmed (Timer I) --I--> Terminated;  Completed --Timer H--> Terminated (TU told)
 *   Proceeding --2xx from TU--> Accepted (Timer L) --L--> Terminated                  [RFC 6026]
 *
 * RFC 6026 keeps the transaction after a 2xx so a retransmitted INVITE is absorbed instead of creating a
 * new transaction (which would make a proxy fork the call again).
 */
import { buildResponse, ownedString } from "@edgepath/sip";
import type { SipRequest } from "@edgepath/sip";
import { TransactionBase } from "./transaction.js";
import type { TransactionEnvironment, TransitionTable } from "./transaction.js";
import type { SendTarget, ServerTransactionUser } from "./types.js";

export type InviteServerState = "Proceeding" | "Completed" | "Confirmed" | "Accepted" | "Terminated";

export const INVITE_SERVER_TRANSITIONS: TransitionTable<InviteServerState> = Object.freeze({
  Proceeding: ["Completed", "Accepted", "Terminated"],
  Completed: ["Confirmed", "Terminated"],
  Confirmed: ["Terminated"],
  Accepted: ["Terminated"],
  Terminated: [],
});

/** What the transaction did with an ACK that matched it. */
export type AckDisposition =
  /** §17.2.1: ACK for our non-2xx final: Completed -> Confirmed, or absorbed in Confirmed. Not for the TU. */
  | "absorbed"
  /** RFC 6026 §7.1: ACK in Accepted: "MUST be passed up to the TU" (a proxy forwards it statelessly). */
  | "to-tu"
  /** ACK before any final response, or after Terminated: no RFC event; dropped. */
  | "ignored";

export class InviteServerTransaction extends TransactionBase<InviteServerState> {
  readonly kind = "invite-server" as const;
  readonly user: ServerTransactionUser;
  #lastProvisional: Buffer | undefined;
  #final: Buffer | undefined;
  #finalStatus: number | undefined;
  #timerG: number;
  #toTag: string | undefined;

  /**
   * §17.2.1: "When a server transaction is constructed for a request, it enters the 'Proceeding' state."
   * `source` is where responses go (§18.2.2: the TU computes it from Via received/rport or the flow).
   */
  constructor(request: SipRequest, source: SendTarget, user: ServerTransactionUser, env: TransactionEnvironment) {
    super(request, source, env, "Proceeding", INVITE_SERVER_TRANSITIONS);
    this.user = user;
    this.#timerG = env.timers.T1;
  }

  /** Status of the final response sent, if any. */
  get finalStatus(): number | undefined {
    return this.#finalStatus;
  }

  /** To tag of the final response (used by RFC 2543 ACK matching, §17.2.3). */
  get responseToTag(): string | undefined {
    return this.#toTag;
  }

  /**
   * Sends a 100 Trying built from the request (§8.2.6.1, §16.2: a stateful proxy "MUST" send 100 Trying for
   * INVITE unless it will answer within 200 ms — the TU decides when to call this). Only in Proceeding and
   * only if no provisional response went out yet; returns whether it was sent.
   */
  sendTrying(): boolean {
    if (this.state !== "Proceeding" || this.#lastProvisional !== undefined) return false;
    return this.respond(100, buildResponse(this.request, 100));
  }

  /**
   * The TU passes a response (bytes already carrying this hop's Vias, To tag etc.). Returns false when the
   * state machine discards it (after a final response, or Terminated) or the transport failed.
   * `toTag` is only needed for RFC 2543 peers (ACK matching without a branch, §17.2.3).
   */
  respond(status: number, bytes: Buffer, toTag?: string): boolean {
    switch (this.state) {
      case "Proceeding":
        if (status < 200) {
          // §17.2.1: "The TU passes any number of provisional responses to the server transaction. So long as
          // the server transaction is in the 'Proceeding' state, each of these MUST be passed to the transport
          // layer for transmission."
          // kept while the phone rings (minutes): an exact-size copy over UDP, not a view pinning a pool slab
          this.#lastProvisional = this.hold(bytes);
          return this.send(bytes);
        }
        this.#finalStatus = status;
        this.#toTag = toTag === undefined ? undefined : ownedString(toTag);
        if (status < 300) {
          // RFC 6026 §7.1: "If, while in the 'Proceeding' state, the TU passes a 2xx response to the server
          // transaction, the server transaction MUST pass this response to the transport layer for
          // transmission. It is not retransmitted by the server transaction ... The server transaction MUST
          // then transition to the 'Accepted' state." and "Timer L MUST be set to fire in 64*T1 for all
          // transports."
          if (!this.send(bytes)) return false;
          this.transition("Accepted");
          // RFC 6026 §7.1: Accepted neither retransmits nor answers INVITE retransmissions; ACKs go to the TU.
          this.#lastProvisional = undefined;
          this.releaseRequest();
          this.startTimer("L", 64 * this.env.timers.T1, this.#onTimerL);
          this.user.onFinalResponse?.(this, status);
          return true;
        }
        // §17.2.1: "While in the 'Proceeding' state, if the TU passes a response with status code from 300 to
        // 699 to the server transaction, the response MUST be passed to the transport layer for transmission,
        // and the state machine MUST enter the 'Completed' state. For unreliable transports, timer G is set
        // to fire in T1 seconds, and is not set to fire for reliable transports." ... "When the 'Completed'
        // state is entered, timer H MUST be set to fire in 64*T1 seconds for all transports."
        if (!this.send(bytes)) return false;
        this.#final = this.holdUntilTimer(bytes);
        this.transition("Completed");
        // Completed resends #final (Timer G, retransmitted INVITEs) and matches the ACK by the layer's key
        // (or #toTag for RFC 2543 peers): nothing else of the request is needed (§17.2.1, §17.2.3).
        this.#lastProvisional = undefined;
        this.releaseRequest();
        this.user.onFinalResponse?.(this, status);
        if (!this.reliable) this.startTimer("G", this.#timerG, this.#onTimerG);
        this.startTimer("H", 64 * this.env.timers.T1, this.#onTimerH);
        return true;
      case "Accepted":
        // RFC 6026 §7.1: "Any retransmission of the 2xx response passed from the TU to the transaction while in
        // the 'Accepted' state MUST be passed to the transport layer for transmission." (a proxy forwarding a
        // 2xx from another fork, or a retransmitted 2xx, lands here)
        if (status >= 200 && status < 300) return this.send(bytes);
        return false;
      case "Completed":
      case "Confirmed":
      case "Terminated":
        return false;
    }
  }

  /**
   * A retransmission of the INVITE matched this transaction (§17.2.3). Never passed to the TU.
   */
  receiveRetransmission(): void {
    switch (this.state) {
      case "Proceeding":
        // §17.2.1: "If a request retransmission is received while in the 'Proceeding' state, the most recent
        // provisional response that was received from the TU MUST be passed to the transport layer for
        // retransmission."
        if (this.#lastProvisional !== undefined) this.send(this.#lastProvisional);
        return;
      case "Completed":
        // §17.2.1: "while in the 'Completed' state, if a request retransmission is received, the server SHOULD
        // pass the response to the transport for retransmission."
        if (this.#final !== undefined) this.send(this.#final);
        return;
      case "Accepted":
        // RFC 6026 §7.1: "Any retransmissions of the INVITE received while in the 'Accepted' state MUST NOT be
        // passed to the TU" — and the transaction does not retransmit 2xx itself.
        return;
      case "Confirmed":
        // §17.2.1: Confirmed absorbs; nothing to send.
        return;
      case "Terminated":
        return;
    }
  }

  /** An ACK matched this transaction (§17.2.3: ACK matches the INVITE's transaction). */
  receiveAck(): AckDisposition {
    switch (this.state) {
      case "Completed":
        // §17.2.1: "If an ACK is received while the server transaction is in the 'Completed' state, the server
        // transaction MUST transition to the 'Confirmed' state. As Timer G is ignored in this state, any
        // retransmissions of the response will cease." ... "When this state is entered, timer I is set to fire
        // in T4 seconds for unreliable transports, and zero seconds for reliable transports."
        this.clearTimer("G");
        this.clearTimer("H");
        this.transition("Confirmed");
        if (this.reliable) this.terminate();
        else this.startTimer("I", this.env.timers.T4, this.#onTimerI);
        return "absorbed";
      case "Confirmed":
        // §17.2.1: "The purpose of the 'Confirmed' state is to absorb any additional ACK messages that arrive,
        // triggered from retransmissions of the final response."
        return "absorbed";
      case "Accepted":
        // RFC 6026 §7.1: "If an ACK is received while the INVITE server transaction is in the 'Accepted' state,
        // then the ACK must be passed up to the TU."
        return "to-tu";
      case "Proceeding":
      case "Terminated":
        return "ignored";
    }
  }

  /**
   * §17.2.1: "If timer G fires, the response is passed to the transport layer once more for retransmission,
   * and timer G is set to fire in MIN(2*T1, T2) seconds. From then on, when timer G fires, the response is
   * passed to the transport again for transmission, and timer G is reset with a value that doubles, unless
   * that value exceeds T2, in which case it is reset with the value of T2."
   */
  #onTimerG(): void {
    if (this.state !== "Completed" || this.#final === undefined) return;
    if (!this.send(this.#final)) return;
    this.#timerG = Math.min(2 * this.#timerG, this.env.timers.T2);
    this.startTimer("G", this.#timerG, this.#onTimerG);
  }

  /**
   * §17.2.1: "If timer H fires while in the 'Completed' state, it implies that the ACK was never received. In
   * this case, the server transaction MUST transition to the 'Terminated' state, and MUST indicate to the TU
   * that a transaction failure has occurred."
   */
  #onTimerH(): void {
    if (this.state !== "Completed") return;
    this.terminate(() => this.user.onTimeout?.(this));
  }

  /** §17.2.1: "Once timer I fires, the server MUST transition to the 'Terminated' state." */
  #onTimerI(): void {
    if (this.state === "Confirmed") this.terminate();
  }

  /** RFC 6026 §7.1: "If Timer L fires while the INVITE server transaction is in the 'Accepted' state, the
   * transaction MUST transition to the 'Terminated' state." */
  #onTimerL(): void {
    if (this.state === "Accepted") this.terminate();
  }

  protected notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }

  protected notifyTransportError(error: Error): void {
    this.user.onTransportError?.(this, error);
  }
}
