import { describe, expect, it } from "vitest";
import { NonInviteClientTransaction } from "./non-invite-client.js";
import type { NonInviteClientState } from "./non-invite-client.js";
import { TransactionStateError } from "./errors.js";
import { RecordingClientUser, TCP, UDP, env, request, responseTo } from "./test-support.js";

class ProbeNict extends NonInviteClientTransaction {
  force(to: NonInviteClientState): void {
    this.transition(to);
  }
}

function setup(reliable = false) {
  const e = env();
  const user = new RecordingClientUser();
  const req = request({ method: "OPTIONS" });
  const tx = new ProbeNict(req, reliable ? TCP : UDP, user, e.env);
  return { ...e, user, tx, req };
}

describe("NonInviteClientTransaction", () => {
  it("RFC 3261 §17.1.2.2: start enters Trying, sends the request, sets Timer F (64*T1) and Timer E (T1)", () => {
    const { tx, sender } = setup();
    expect(tx.state).toBe("Trying");
    tx.start();
    expect(sender.startLines()).toEqual(["OPTIONS sip:bob@192.0.2.10:5060;transport=udp SIP/2.0"]);
    expect(tx.activeTimers().sort()).toEqual(["E", "F"]);
  });

  it("RFC 3261 §17.1.2.2: Timer E doubles up to T2 in Trying; Timer F times out at 64*T1", () => {
    const { tx, sender, scheduler, user } = setup();
    tx.start();
    scheduler.advance(31_999);
    // intervals 500, 1000, 2000, 4000 (=T2 cap), 4000, ...
    expect(sender.times()).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(user.events).toEqual([]);
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual([{ type: "timeout", state: "Terminated" }, { type: "terminated" }]);
    expect(scheduler.pending).toBe(0);
  });

  it("RFC 3261 §17.1.2.2: a 1xx in Trying goes to the TU then Proceeding; Timer E then fires every T2", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    scheduler.advance(600); // retransmission at 500; next E due at 1500
    tx.receiveResponse(responseTo(req, 100));
    expect(tx.state).toBe("Proceeding");
    expect(user.events).toEqual([{ type: "response", status: 100, state: "Proceeding" }]);
    scheduler.advance(10_000);
    expect(sender.times()).toEqual([0, 500, 1500, 5500, 9500]);
    tx.receiveResponse(responseTo(req, 183));
    expect(user.types()).toEqual(["response:100", "response:183"]);
  });

  it("RFC 3261 §17.1.2.2: Timer F in Proceeding informs the TU of a timeout (the proxy's 408)", () => {
    const { tx, scheduler, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 100));
    scheduler.advance(32_000);
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["response:100", "timeout", "terminated"]);
  });

  it("RFC 3261 §17.1.2.2: a final in Trying -> Completed, to the TU; retransmitted finals absorbed; Timer K (T4) -> Terminated", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Completed");
    expect(tx.activeTimers()).toEqual(["K"]);
    tx.receiveResponse(responseTo(req, 200));
    tx.receiveResponse(responseTo(req, 100));
    expect(user.types()).toEqual(["response:200"]);
    scheduler.advance(4_999);
    expect(tx.state).toBe("Completed");
    expect(sender.sent).toHaveLength(1); // Timer E stopped
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["response:200", "terminated"]);
  });

  it("RFC 3261 §17.1.2.2: a final in Proceeding -> Completed", () => {
    const { tx, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 180));
    tx.receiveResponse(responseTo(req, 404));
    expect(tx.state).toBe("Completed");
    expect(user.types()).toEqual(["response:180", "response:404"]);
  });

  it("RFC 3261 §17.1.2.2: reliable transport: no Timer E, Timer K is zero (final -> Terminated at once)", () => {
    const { tx, sender, scheduler, user, req } = setup(true);
    tx.start();
    expect(tx.activeTimers()).toEqual(["F"]);
    scheduler.advance(20_000);
    expect(sender.sent).toHaveLength(1);
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["response:200", "terminated"]);
  });

  it("RFC 3261 §17.1.2.2: reliable transport still times out with Timer F", () => {
    const { tx, scheduler, user } = setup(true);
    tx.start();
    scheduler.advance(32_000);
    expect(user.types()).toEqual(["timeout", "terminated"]);
  });

  it("RFC 3261 §17.1.4: transport error -> Terminated, TU told", () => {
    const { tx, sender, user } = setup();
    sender.failNext = "result";
    tx.start();
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["transport-error", "terminated"]);
  });

  it("RFC 3261 §17.1.2.2 Figure 6: illegal transitions throw TransactionStateError", () => {
    const { tx, req } = setup();
    tx.start();
    expect(() => tx.force("Trying")).toThrow(TransactionStateError);
    tx.receiveResponse(responseTo(req, 200));
    expect(() => tx.force("Proceeding")).toThrow(TransactionStateError);
    expect(tx.state).toBe("Completed");
  });
});
