/**
 * Non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8).
 *
 *   Trying --1xx from TU--> Proceeding --1xx--> (sent)
 *   Trying/Proceeding --200-699 from TU--> Completed (Timer J) --J--> Terminated
 *   Proceeding: request retransmission -> resend last 1xx;  Completed: -> resend final
 */
import type { SipRequest } from "@edgepath/sip";
import { TransactionBase } from "./transaction.js";
import type { TransactionEnvironment, TransitionTable } from "./transaction.js";
import type { SendTarget, ServerTransactionUser } from "./types.js";

export type NonInviteServerState = "Trying" | "Proceeding" | "Completed" | "Terminated";

export const NON_INVITE_SERVER_TRANSITIONS: TransitionTable<NonInviteServerState> = Object.freeze({
  Trying: ["Proceeding", "Completed", "Terminated"],
  Proceeding: ["Completed", "Terminated"],
  Completed: ["Terminated"],
  Terminated: [],
});

export class NonInviteServerTransaction extends TransactionBase<NonInviteServerState> {
  readonly kind = "non-invite-server" as const;
  readonly user: ServerTransactionUser;
  #lastProvisional: Buffer | undefined;
  #final: Buffer | undefined;
  #finalStatus: number | undefined;

  /**
   * §17.2.2: "The state machine is initialized in the 'Trying' state and is passed a request other than INVITE
   * or ACK when initialized. This request is passed up to the TU."
   */
  constructor(request: SipRequest, source: SendTarget, user: ServerTransactionUser, env: TransactionEnvironment) {
    super(request, source, env, "Trying", NON_INVITE_SERVER_TRANSITIONS);
    this.user = user;
  }

  get finalStatus(): number | undefined {
    return this.#finalStatus;
  }

  /** The TU passes a response. Returns false if discarded (after the final) or the transport failed. */
  respond(status: number, bytes: Buffer): boolean {
    switch (this.state) {
      case "Trying":
      case "Proceeding":
        if (status < 200) {
          // §17.2.2: "While in the 'Trying' state, if the TU passes a provisional response to the server
          // transaction, the server transaction MUST enter the 'Proceeding' state. The response MUST be passed
          // to the transport layer for transmission. Any further provisional responses that are received from
          // the TU while in the 'Proceeding' state MUST be passed to the transport layer for transmission."
          this.#lastProvisional = bytes;
          if (!this.send(bytes)) return false;
          if (this.state === "Trying") this.transition("Proceeding");
          return true;
        }
        // §17.2.2: "If the TU passes a final response (status codes 200-699) to the server while in the
        // 'Proceeding' [or 'Trying'] state, the transaction MUST enter the 'Completed' state, and the response
        // MUST be passed to the transport layer for transmission." ... "When the server transaction enters the
        // 'Completed' state, it MUST set Timer J to fire in 64*T1 seconds for unreliable transports, and zero
        // seconds for reliable transports."
        this.#finalStatus = status;
        if (!this.send(bytes)) return false;
        this.#final = this.holdUntilTimer(bytes);
        this.transition("Completed");
        // Completed only resends #final (§17.2.2): drop the request and the last 1xx for the 32 s of Timer J.
        this.#lastProvisional = undefined;
        this.releaseRequest();
        this.user.onFinalResponse?.(this, status);
        if (this.reliable) this.terminate();
        else this.startTimer("J", 64 * this.env.timers.T1, this.#onTimerJ);
        return true;
      case "Completed":
        // §17.2.2: "Any other final responses passed by the TU to the server transaction MUST be discarded
        // while in the 'Completed' state."
        return false;
      case "Terminated":
        return false;
    }
  }

  /** A retransmission of the request matched this transaction (§17.2.3). Never passed to the TU. */
  receiveRetransmission(): void {
    switch (this.state) {
      case "Trying":
        // §17.2.2: "Once in the 'Trying' state, any further request retransmissions are discarded."
        return;
      case "Proceeding":
        // §17.2.2: "If a retransmission of the request is received while in the 'Proceeding' state, the most
        // recently sent provisional response MUST be passed to the transport layer for retransmission."
        if (this.#lastProvisional !== undefined) this.send(this.#lastProvisional);
        return;
      case "Completed":
        // §17.2.2: "While in the 'Completed' state, the server transaction MUST pass the final response to the
        // transport layer for retransmission whenever a retransmission of the request is received."
        if (this.#final !== undefined) this.send(this.#final);
        return;
      case "Terminated":
        return;
    }
  }

  /** §17.2.2: "The server transaction remains in this state until Timer J fires, at which point it MUST
   * transition to the 'Terminated' state." */
  #onTimerJ(): void {
    if (this.state === "Completed") this.terminate();
  }

  protected notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }

  protected notifyTransportError(error: Error): void {
    this.user.onTransportError?.(this, error);
  }
}
