import { describe, expect, it } from "vitest";
import { NonInviteServerTransaction } from "./non-invite-server.js";
import type { NonInviteServerState } from "./non-invite-server.js";
import { TransactionStateError } from "./errors.js";
import { RecordingServerUser, TCP, UDP, env, request, responseBytes } from "./test-support.js";

class ProbeNist extends NonInviteServerTransaction {
  force(to: NonInviteServerState): void {
    this.transition(to);
  }
}

function setup(reliable = false) {
  const e = env();
  const user = new RecordingServerUser();
  const req = request({ method: "MESSAGE" });
  const tx = new ProbeNist(req, reliable ? TCP : UDP, user, e.env);
  return { ...e, user, tx, req };
}

describe("NonInviteServerTransaction", () => {
  it("RFC 3261 §17.2.2: starts in Trying; retransmissions in Trying are discarded", () => {
    const { tx, sender } = setup();
    expect(tx.state).toBe("Trying");
    tx.receiveRetransmission();
    expect(sender.sent).toEqual([]);
    expect(tx.activeTimers()).toEqual([]);
  });

  it("RFC 3261 §17.2.2: a provisional moves Trying -> Proceeding; a retransmission re-sends the last provisional", () => {
    const { tx, sender, req } = setup();
    expect(tx.respond(100, responseBytes(req, 100))).toBe(true);
    expect(tx.state).toBe("Proceeding");
    expect(tx.respond(183, responseBytes(req, 183))).toBe(true);
    tx.receiveRetransmission();
    expect(sender.startLines()).toEqual(["SIP/2.0 100 Trying", "SIP/2.0 183 Session Progress", "SIP/2.0 183 Session Progress"]);
  });

  it("RFC 3261 §17.2.2: a final moves to Completed with Timer J = 64*T1 over UDP; retransmissions re-send the final; J ends it", () => {
    const { tx, sender, scheduler, req, user, terminated } = setup();
    expect(tx.respond(200, responseBytes(req, 200))).toBe(true);
    expect(tx.state).toBe("Completed");
    expect(tx.finalStatus).toBe(200);
    expect(tx.activeTimers()).toEqual(["J"]);
    tx.receiveRetransmission();
    tx.receiveRetransmission();
    expect(sender.startLines()).toEqual(["SIP/2.0 200 OK", "SIP/2.0 200 OK", "SIP/2.0 200 OK"]);
    // No retransmission of its own: a non-INVITE server only answers retransmitted requests.
    scheduler.advance(31_999);
    expect(sender.sent).toHaveLength(3);
    expect(tx.state).toBe("Completed");
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["terminated"]);
    expect(terminated).toEqual([tx]);
  });

  it("RFC 3261 §17.2.2: Timer J is zero over a reliable transport (Completed -> Terminated at once)", () => {
    const { tx, req, user } = setup(true);
    tx.respond(404, responseBytes(req, 404));
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["terminated"]);
  });

  it("RFC 3261 §17.2.2: other final responses in Completed are discarded", () => {
    const { tx, sender, req } = setup();
    tx.respond(200, responseBytes(req, 200));
    expect(tx.respond(500, responseBytes(req, 500))).toBe(false);
    expect(tx.respond(180, responseBytes(req, 180))).toBe(false);
    expect(sender.sent).toHaveLength(1);
  });

  it("RFC 3261 §17.2.4: a failed send of the final terminates and tells the TU", () => {
    const { tx, sender, req, user } = setup();
    sender.failNext = "throw";
    expect(tx.respond(200, responseBytes(req, 200))).toBe(false);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["transport-error", "terminated"]);
  });

  it("CONVENTIONS §7: illegal moves throw TransactionStateError", () => {
    const { tx } = setup();
    tx.force("Completed");
    expect(() => tx.force("Proceeding")).toThrow(TransactionStateError);
  });
});
