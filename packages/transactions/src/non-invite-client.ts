/**
 * Non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6).
 *
 *   Trying --1xx--> Proceeding;  Trying/Proceeding --200-699--> Completed (Timer K) --K--> Terminated
 *   Trying/Proceeding --Timer F--> Terminated (timeout to TU)
 *   Timer E retransmits: doubling up to T2 in Trying, every T2 in Proceeding (unreliable only)
 */
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { releasedUser, TransactionBase } from "./transaction.js";
import type { TransactionEnvironment, TransitionTable } from "./transaction.js";
import type { ClientTransactionUser, SendTarget } from "./types.js";

export type NonInviteClientState = "Trying" | "Proceeding" | "Completed" | "Terminated";

export const NON_INVITE_CLIENT_TRANSITIONS: TransitionTable<NonInviteClientState> = Object.freeze({
  Trying: ["Proceeding", "Completed", "Terminated"],
  Proceeding: ["Completed", "Terminated"],
  Completed: ["Terminated"],
  Terminated: [],
});

export class NonInviteClientTransaction extends TransactionBase<NonInviteClientState> {
  readonly kind = "non-invite-client" as const;
  #user: ClientTransactionUser;
  #timerE: number;
  #started = false;

  constructor(request: SipRequest, target: SendTarget, user: ClientTransactionUser, env: TransactionEnvironment) {
    super(request, target, env, "Trying", NON_INVITE_CLIENT_TRANSITIONS);
    this.#user = user;
    this.#timerE = env.timers.T1;
  }

  /** The TU; let go in Completed when it has no onTerminated (see releasedUser). */
  get user(): ClientTransactionUser {
    return this.#user;
  }

  /**
   * §17.1.2.2: "The 'Trying' state is entered when the TU initiates a new client transaction with a request.
   * When entering this state, the client transaction SHOULD set timer F to fire in 64*T1 seconds. The request
   * MUST be passed to the transport layer for transmission. If an unreliable transport is in use, the client
   * transaction MUST set timer E to fire in T1 seconds."
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (!this.send(this.request.toBuffer())) return;
    this.startTimer("F", 64 * this.env.timers.T1, this.#onTimerF);
    if (!this.reliable) this.startTimer("E", this.#timerE, this.#onTimerE);
  }

  /**
   * §17.1.2.2: "If timer E fires while still in this state [Trying], the timer is reset, but this time with a
   * value of MIN(2*T1, T2). When the timer fires again, it is reset to a MIN(4*T1, T2)." ... "If Timer E fires
   * while in the 'Proceeding' state, the request MUST be passed to the transport layer for retransmission, and
   * Timer E MUST be reset with a value of T2 seconds."
   */
  #onTimerE(): void {
    if (this.state !== "Trying" && this.state !== "Proceeding") return;
    if (!this.send(this.request.toBuffer())) return;
    const { T2 } = this.env.timers;
    this.#timerE = this.state === "Trying" ? Math.min(2 * this.#timerE, T2) : T2;
    this.startTimer("E", this.#timerE, this.#onTimerE);
  }

  /**
   * §17.1.2.2: "If Timer F fires while the client transaction is still in the 'Trying' state, the client
   * transaction SHOULD inform the TU about the timeout, and then it SHOULD enter the 'Terminated' state."
   * and "If timer F fires while in the 'Proceeding' state, the TU MUST be informed of a timeout, and the
   * client transaction MUST transition to the terminated state." The proxy answers 408 (§16.8).
   */
  #onTimerF(): void {
    if (this.state !== "Trying" && this.state !== "Proceeding") return;
    this.terminate(() => this.user.onTimeout(this));
  }

  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case "Trying":
      case "Proceeding":
        if (status < 200) {
          // §17.1.2.2: "If a provisional response is received while in the 'Trying' state, the response MUST
          // be passed to the TU, and then the client transaction SHOULD move to the 'Proceeding' state."
          // ... "If a provisional response is received while in the 'Proceeding' state, it MUST be passed to
          // the TU." Timer E keeps running; its next value is T2 (see #onTimerE).
          if (this.state === "Trying") this.transition("Proceeding");
          this.user.onResponse(response, this);
        } else {
          // §17.1.2.2: "If a final response (status codes 200-699) is received while in the 'Trying' state
          // [or 'Proceeding'], the response MUST be passed to the TU, and the client transaction MUST transition
          // to the 'Completed' state." ... "Once the client transaction enters the 'Completed' state, it MUST
          // set Timer K to fire in T4 seconds for unreliable transports, and zero seconds for reliable
          // transports."
          this.clearTimer("E");
          this.clearTimer("F");
          this.transition("Completed");
          this.user.onResponse(response, this);
          // Completed only absorbs response retransmissions (§17.1.2.2): the request is not sent again,
          // and nothing but the end is reported to the TU (no send can fail here).
          this.releaseRequest();
          this.#user = releasedUser(this.#user);
          if (this.terminated) return; // the TU aborted us
          if (this.reliable) this.terminate();
          else this.startTimer("K", this.env.timers.T4, this.#onTimerK);
        }
        return;
      case "Completed":
        // §17.1.2.2: "The 'Completed' state exists to buffer any additional response retransmissions that may
        // be received (which is why the client transaction remains there only for unreliable transports)."
        return;
      case "Terminated":
        return;
    }
  }

  /** §17.1.2.2: "If Timer K fires while in this state, the client transaction MUST transition to the
   * 'Terminated' state." */
  #onTimerK(): void {
    if (this.state === "Completed") this.terminate();
  }

  protected notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }

  protected notifyTransportError(error: Error): void {
    this.user.onTransportError(this, error);
  }
}
