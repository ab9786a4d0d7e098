import { describe, expect, it } from "vitest";
import { InviteServerTransaction } from "./invite-server.js";
import type { InviteServerState } from "./invite-server.js";
import { TransactionStateError } from "./errors.js";
import { RecordingServerUser, TCP, UDP, env, request, responseBytes } from "./test-support.js";

class ProbeIst extends InviteServerTransaction {
  force(to: InviteServerState): void {
    this.transition(to);
  }
}

function setup(reliable = false) {
  const e = env();
  const user = new RecordingServerUser();
  const req = request();
  const tx = new ProbeIst(req, reliable ? TCP : UDP, user, e.env);
  return { ...e, user, tx, req };
}

describe("InviteServerTransaction", () => {
  it("RFC 3261 §17.2.1: a new INVITE server transaction starts in Proceeding with no timers and sends nothing", () => {
    const { tx, sender } = setup();
    expect(tx.state).toBe("Proceeding");
    expect(tx.activeTimers()).toEqual([]);
    expect(sender.sent).toEqual([]);
  });

  it("RFC 3261 §16.2 / §8.2.6.1: sendTrying sends one 100 Trying (no To tag) and only while no provisional was sent", () => {
    const { tx, sender, req } = setup();
    expect(tx.sendTrying()).toBe(true);
    expect(sender.startLines()).toEqual(["SIP/2.0 100 Trying"]);
    expect(sender.sent[0]!.text).toContain(`To: ${req.header("to")}\r\n`);
    expect(sender.sent[0]!.target).toEqual(UDP);
    expect(tx.sendTrying()).toBe(false);
    expect(sender.sent).toHaveLength(1);
  });

  it("RFC 3261 §17.2.1: provisionals go out in Proceeding; an INVITE retransmission re-sends the most recent one", () => {
    const { tx, sender, req } = setup();
    tx.receiveRetransmission(); // nothing sent yet: nothing to repeat
    expect(sender.sent).toEqual([]);
    tx.sendTrying();
    expect(tx.respond(180, responseBytes(req, 180))).toBe(true);
    tx.receiveRetransmission();
    expect(sender.startLines()).toEqual(["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"]);
    expect(tx.state).toBe("Proceeding");
  });

  it("RFC 3261 §17.2.1: a 300-699 moves to Completed, Timer G retransmits T1, 2T1, ... capped at T2, Timer H (64*T1) ends it and tells the TU", () => {
    const { tx, sender, scheduler, user, req, terminated } = setup();
    expect(tx.respond(486, responseBytes(req, 486), "s9")).toBe(true);
    expect(tx.state).toBe("Completed");
    expect(tx.finalStatus).toBe(486);
    expect(tx.responseToTag).toBe("s9");
    expect(tx.activeTimers().sort()).toEqual(["G", "H"]);
    scheduler.advance(31_999);
    // 0, +500 -> 500, +1000 -> 1500, +2000 -> 3500, then every T2 = 4000: 7500 ... 31500
    expect(sender.times()).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(sender.startLines().every((l) => l === "SIP/2.0 486 Busy Here")).toBe(true);
    expect(tx.state).toBe("Completed");
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["timeout:Terminated", "terminated"]);
    expect(terminated).toEqual([tx]);
    expect(scheduler.pending).toBe(0);
  });

  it("RFC 3261 §17.2.1: over a reliable transport Timer G is not set; Timer H still runs", () => {
    const { tx, sender, scheduler, user, req } = setup(true);
    tx.respond(404, responseBytes(req, 404));
    expect(tx.activeTimers()).toEqual(["H"]);
    scheduler.advance(32_000);
    expect(sender.sent).toHaveLength(1);
    expect(user.events).toEqual(["timeout:Terminated", "terminated"]);
  });

  it("RFC 3261 §17.2.1: a request retransmission in Completed re-sends the final response", () => {
    const { tx, sender, req } = setup(true);
    tx.respond(603, responseBytes(req, 603));
    tx.receiveRetransmission();
    expect(sender.startLines()).toEqual(["SIP/2.0 603 Decline", "SIP/2.0 603 Decline"]);
  });

  it("RFC 3261 §17.2.1: ACK in Completed -> Confirmed, stops G and H, Timer I (T4) then Terminated; further ACKs are absorbed", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.respond(486, responseBytes(req, 486));
    scheduler.advance(600); // one Timer G retransmission
    expect(tx.receiveAck()).toBe("absorbed");
    expect(tx.state).toBe("Confirmed");
    expect(tx.activeTimers()).toEqual(["I"]);
    expect(tx.receiveAck()).toBe("absorbed");
    tx.receiveRetransmission(); // Confirmed absorbs requests too
    scheduler.advance(4_999);
    expect(tx.state).toBe("Confirmed");
    expect(sender.sent).toHaveLength(2);
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["terminated"]); // no failure: the ACK came
  });

  it("RFC 3261 §17.2.1: over a reliable transport Timer I is zero: ACK terminates at once", () => {
    const { tx, req, user } = setup(true);
    tx.respond(480, responseBytes(req, 480));
    expect(tx.receiveAck()).toBe("absorbed");
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["terminated"]);
  });

  it("RFC 6026 §7.1: a 2xx moves to Accepted with Timer L (64*T1, all transports) and is not retransmitted by the transaction", () => {
    for (const reliable of [false, true]) {
      const { tx, sender, scheduler, req, user } = setup(reliable);
      tx.sendTrying();
      expect(tx.respond(200, responseBytes(req, 200))).toBe(true);
      expect(tx.state).toBe("Accepted");
      expect(tx.activeTimers()).toEqual(["L"]);
      scheduler.advance(31_999);
      expect(sender.startLines()).toEqual(["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
      scheduler.advance(1);
      expect(tx.state).toBe("Terminated");
      expect(user.events).toEqual(["terminated"]);
    }
  });

  it("RFC 6026 §7.1 / §8.4: in Accepted further 2xx from the TU are sent, other responses and INVITE retransmissions are not", () => {
    const { tx, sender, req } = setup();
    tx.respond(200, responseBytes(req, 200, "fork1"));
    expect(tx.respond(200, responseBytes(req, 200, "fork2"))).toBe(true);
    expect(tx.respond(486, responseBytes(req, 486))).toBe(false);
    expect(tx.respond(180, responseBytes(req, 180))).toBe(false);
    tx.receiveRetransmission();
    expect(sender.startLines()).toEqual(["SIP/2.0 200 OK", "SIP/2.0 200 OK"]);
    expect(sender.sent[1]!.text).toContain("tag=fork2");
  });

  it("RFC 6026 §7.1: an ACK in Accepted is passed to the TU; an ACK before any final is ignored", () => {
    const { tx, req } = setup();
    expect(tx.receiveAck()).toBe("ignored");
    tx.respond(200, responseBytes(req, 200));
    expect(tx.receiveAck()).toBe("to-tu");
    expect(tx.state).toBe("Accepted");
  });

  it("RFC 3261 §17.2.1: after a final response in Completed, further responses from the TU are discarded", () => {
    const { tx, sender, req } = setup(true);
    tx.respond(486, responseBytes(req, 486));
    expect(tx.respond(200, responseBytes(req, 200))).toBe(false);
    expect(tx.respond(180, responseBytes(req, 180))).toBe(false);
    expect(sender.sent).toHaveLength(1);
  });

  it("RFC 3261 §17.2.4: a transport failure sending the final terminates the transaction and tells the TU", () => {
    const { tx, sender, req, user } = setup();
    sender.failNext = "result";
    expect(tx.respond(500, responseBytes(req, 500))).toBe(false);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["transport-error", "terminated"]);
    expect((user.errors[0] as Error & { code: string; sipStatus: number }).code).toBe("transport-error");
  });

  it("RFC 3261 §17.2.4: a throwing transport on a Timer G retransmission also terminates", () => {
    const { tx, sender, scheduler, req, user } = setup();
    tx.respond(486, responseBytes(req, 486));
    sender.failNext = "throw";
    scheduler.advance(500);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["transport-error", "terminated"]);
    expect(scheduler.pending).toBe(0);
  });

  it("CONVENTIONS §7: transitions the RFC 3261 / RFC 6026 diagrams do not have throw TransactionStateError", () => {
    const { tx } = setup();
    tx.force("Accepted");
    expect(() => tx.force("Completed")).toThrow(TransactionStateError);
    const other = setup().tx;
    other.force("Completed");
    expect(() => other.force("Accepted")).toThrow(/illegal transition Completed -> Accepted/);
  });

  it("abort() ends the transaction silently (no send, TU told it terminated)", () => {
    const { tx, sender, scheduler, req, user } = setup();
    tx.respond(486, responseBytes(req, 486));
    tx.abort();
    scheduler.advance(60_000);
    expect(sender.sent).toHaveLength(1);
    expect(user.events).toEqual(["terminated"]);
  });
});
