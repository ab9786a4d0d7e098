/**
 * INVITE client transaction, RFC 3261 §17.1.1 (Figure 5) as updated by RFC 6026 §7.2 (Accepted state).
 *
 *   Calling --1xx--> Proceeding --1xx--> (TU)
 *   Calling/Proceeding --300-699--> Completed (ACK sent, Timer D) --D--> Terminated
 *   Calling/Proceeding --2xx--> Accepted (Timer M) --M--> Terminated          [RFC 6026]
 *   Calling --Timer B--> Terminated (timeout to TU)
 *   any --transport error--> Terminated
 *
 * RFC 6026 replaces RFC 3261's "2xx -> Terminated": a proxy must keep the transaction so that 2xx
 * retransmissions and 2xx from other forks are still matched and forwarded (RFC 6026 §8.4) instead of
 * being treated as stray.
 */
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { buildAckForNon2xx, buildCancel } from "./ack.js";
import { TIMER_D_MIN_MS } from "./timers.js";
import { releasedUser, TransactionBase } from "./transaction.js";
import type { TransactionEnvironment, TransitionTable } from "./transaction.js";
import type { ClientTransactionUser, SendTarget } from "./types.js";

export type InviteClientState = "Calling" | "Proceeding" | "Completed" | "Accepted" | "Terminated";

export const INVITE_CLIENT_TRANSITIONS: TransitionTable<InviteClientState> = Object.freeze({
  Calling: ["Proceeding", "Completed", "Accepted", "Terminated"],
  Proceeding: ["Completed", "Accepted", "Terminated"],
  Completed: ["Terminated"],
  Accepted: ["Terminated"],
  Terminated: [],
});

export class InviteClientTransaction extends TransactionBase<InviteClientState> {
  readonly kind = "invite-client" as const;
  #user: ClientTransactionUser;
  /** Current Timer A interval. */
  #timerA: number;
  #ack: Buffer | undefined;
  #started = false;

  constructor(request: SipRequest, target: SendTarget, user: ClientTransactionUser, env: TransactionEnvironment) {
    super(request, target, env, "Calling", INVITE_CLIENT_TRANSITIONS);
    this.#user = user;
    this.#timerA = env.timers.T1;
  }

  /** The TU; let go in Completed when it has no onTerminated (see releasedUser). Kept in Accepted. */
  get user(): ClientTransactionUser {
    return this.#user;
  }

  /**
   * Sends the INVITE. RFC 3261 §17.1.1.2: "The initial state, 'calling', MUST be entered when the TU
   * initiates a new client transaction with an INVITE request. The client transaction MUST pass the request
   * to the transport layer for transmission ... If an unreliable transport is being used, the client
   * transaction MUST start timer A with a value of T1. ... For any transport, the client transaction MUST
   * start timer B with a value of 64*T1 seconds".
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (!this.send(this.request.toBuffer())) return;
    if (!this.reliable) this.startTimer("A", this.#timerA, this.#onTimerA);
    this.startTimer("B", 64 * this.env.timers.T1, this.#onTimerB);
  }

  /**
   * §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the request by passing it to the
   * transport layer, and MUST reset the timer with a value of 2*T1." (doubling each time; INVITE has no T2 cap)
   */
  #onTimerA(): void {
    if (this.state !== "Calling") return;
    if (!this.send(this.request.toBuffer())) return;
    this.#timerA *= 2;
    this.startTimer("A", this.#timerA, this.#onTimerA);
  }

  /**
   * §17.1.1.2: "If the client transaction is still in the 'Calling' state when timer B fires, the client
   * transaction SHOULD inform the TU that a timeout has occurred." The proxy turns it into a 408 (§16.8).
   */
  #onTimerB(): void {
    if (this.state !== "Calling") return;
    this.terminate(() => this.user.onTimeout(this));
  }

  /** Feeds a response matched to this transaction (§17.1.3). */
  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case "Calling":
      case "Proceeding":
        if (status < 200) {
          // §17.1.1.2: "If the client transaction receives a provisional response while in the 'Calling'
          // state, it transitions to the 'Proceeding' state. In the 'Proceeding' state, the client
          // transaction SHOULD NOT retransmit the request any longer. Furthermore, the provisional response
          // MUST be passed to the TU. Any further provisional responses MUST be passed up to the TU while in
          // the 'Proceeding' state."  Timer B only guards Calling; the proxy's Timer C (§16.6 step 11) takes over.
          if (this.state === "Calling") {
            this.clearTimer("A");
            this.clearTimer("B");
            this.transition("Proceeding");
          }
          this.user.onResponse(response, this);
        } else if (status < 300) {
          // RFC 6026 §7.2: "If a 2xx response is received while the client INVITE state machine is in the
          // 'Calling' or 'Proceeding' states, it MUST transition to the 'Accepted' state, pass the 2xx
          // response to the TU, and set Timer M to 64*T1."
          this.clearTimer("A");
          this.clearTimer("B");
          this.transition("Accepted");
          this.startTimer("M", 64 * this.env.timers.T1, this.#onTimerM);
          this.user.onResponse(response, this);
          // RFC 6026 §7.2: Accepted only passes 2xx up (no ACK, no retransmission), and a CANCEL after a
          // final response has no effect (§9.1): the request is not needed again.
          this.releaseRequest();
        } else {
          // §17.1.1.2: "When in either the 'Calling' or 'Proceeding' states, reception of a response with
          // status code from 300-699 MUST cause the client transaction to transition to 'Completed'. The
          // client transaction MUST pass the received response up to the TU, and the client transaction MUST
          // generate an ACK request, even if the transport is reliable ... and then pass the ACK to the
          // transport layer for transmission. ... The client transaction SHOULD start timer D ... with a
          // value of at least 32 seconds for unreliable transports, and a value of zero seconds for reliable
          // transports."
          this.clearTimer("A");
          this.clearTimer("B");
          this.transition("Completed");
          this.#ack = this.holdUntilTimer(buildAckForNon2xx(this.request, response));
          this.user.onResponse(response, this);
          // Completed resends only the ACK built above (§17.1.1.2).
          this.releaseRequest();
          if (this.terminated) return; // the TU aborted us
          if (!this.send(this.#ack)) return;
          if (this.reliable) this.terminate();
          else {
            this.#user = releasedUser(this.#user);
            this.startTimer("D", Math.max(TIMER_D_MIN_MS, 64 * this.env.timers.T1), this.#onTimerD);
          }
        }
        return;
      case "Completed":
        // §17.1.1.2: "Any retransmissions of the final response that are received while in the 'Completed'
        // state MUST cause the ACK to be re-passed to the transport layer for retransmission, but the newly
        // received response MUST NOT be passed up to the TU."
        if (status >= 300 && this.#ack !== undefined) this.send(this.#ack);
        return;
      case "Accepted":
        // RFC 6026 §7.2: "Any 2xx responses that match this client transaction and that are received while in
        // the 'Accepted' state MUST be passed up to the TU. The client transaction MUST NOT generate an ACK to
        // the 2xx response -- its handling is delegated to the TU." Other responses are absorbed.
        if (status >= 200 && status < 300) this.user.onResponse(response, this);
        return;
      case "Terminated":
        return;
    }
  }

  /** §17.1.1.2: "If timer D fires while the client transaction is in the 'Completed' state, the client
   * transaction MUST move to the terminated state." */
  #onTimerD(): void {
    if (this.state === "Completed") this.terminate();
  }

  /** RFC 6026 §7.2: "If Timer M fires and the state machine is in the 'Accepted' state, the machine MUST
   * transition to the 'Terminated' state." */
  #onTimerM(): void {
    if (this.state === "Accepted") this.terminate();
  }

  /** The ACK this transaction sent for a non-2xx final, once it has (§17.1.1.3). */
  get ack(): Buffer | undefined {
    return this.#ack;
  }

  /**
   * Bytes of a CANCEL for this INVITE (§9.1), to be sent by the TU in a new non-INVITE client transaction
   * to the same target. §9.1: only once a provisional response arrived, i.e. state "Proceeding"; a proxy
   * that must cancel earlier waits for the 1xx (§16.10 / §9.1).
   */
  buildCancel(extraHeaders?: ReadonlyArray<readonly [string, string]>): Buffer {
    // Throws TransactionError "request-released" after a final response: §9.1 "a CANCEL ... has no effect
    // on a request to which a final response has already been generated".
    return buildCancel(this.request, extraHeaders);
  }

  protected notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }

  protected notifyTransportError(error: Error): void {
    this.user.onTransportError(this, error);
  }
}
