import { describe, expect, it } from "vitest";
import { InviteClientTransaction } from "./invite-client.js";
import type { InviteClientState } from "./invite-client.js";
import { TransactionError, TransactionStateError } from "./errors.js";
import { RecordingClientUser, TCP, UDP, env, parse, request, responseTo } from "./test-support.js";
import type { SipRequest } from "@edgepath/sip";

class ProbeIct extends InviteClientTransaction {
  force(to: InviteClientState): void {
    this.transition(to);
  }
}

function setup(opts: { reliable?: boolean; req?: SipRequest } = {}) {
  const e = env();
  const user = new RecordingClientUser();
  const req = opts.req ?? request();
  const tx = new ProbeIct(req, opts.reliable === true ? TCP : UDP, user, e.env);
  return { ...e, user, tx, req };
}

describe("InviteClientTransaction", () => {
  it("RFC 3261 §17.1.1.2: start enters Calling, sends the INVITE, starts Timer A (T1) and Timer B (64*T1)", () => {
    const { tx, sender } = setup();
    expect(tx.state).toBe("Calling");
    tx.start();
    expect(sender.startLines()).toEqual(["INVITE sip:bob@192.0.2.10:5060;transport=udp SIP/2.0"]);
    expect(sender.sent[0]!.target).toEqual(UDP);
    expect(tx.activeTimers().sort()).toEqual(["A", "B"]);
  });

  it("RFC 3261 §17.1.1.2: Timer A doubles each firing (no T2 cap for INVITE) until Timer B fires at 64*T1", () => {
    const { tx, sender, scheduler, user } = setup();
    tx.start();
    scheduler.advance(31_999);
    // 0, then T1=500 -> 500, +1000 -> 1500, +2000 -> 3500, +4000 -> 7500, +8000 -> 15500, +16000 -> 31500
    expect(sender.times()).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(tx.state).toBe("Calling");
    expect(user.events).toEqual([]);
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual([{ type: "timeout", state: "Terminated" }, { type: "terminated" }]);
    expect(scheduler.pending).toBe(0);
  });

  it("RFC 3261 §17.1.1.2: over a reliable transport Timer A is not started; Timer B still times out", () => {
    const { tx, sender, scheduler, user } = setup({ reliable: true });
    tx.start();
    expect(tx.activeTimers()).toEqual(["B"]);
    scheduler.advance(32_000);
    expect(sender.sent).toHaveLength(1);
    expect(user.types()).toEqual(["timeout", "terminated"]);
  });

  it("RFC 3261 §17.1.1.2: a 1xx in Calling moves to Proceeding, reaches the TU and stops retransmissions", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    scheduler.advance(600); // one retransmission at 500
    tx.receiveResponse(responseTo(req, 100));
    expect(tx.state).toBe("Proceeding");
    expect(user.events).toEqual([{ type: "response", status: 100, state: "Proceeding" }]);
    scheduler.advance(120_000);
    expect(sender.sent).toHaveLength(2);
    expect(tx.state).toBe("Proceeding"); // Timer B only guards Calling; Timer C is the proxy's (§16.6 step 11)
    tx.receiveResponse(responseTo(req, 180));
    expect(user.types()).toEqual(["response:100", "response:180"]);
  });

  it("RFC 3261 §17.1.1.2: 300-699 in Proceeding -> Completed, response to TU, ACK sent, retransmitted final re-sends the ACK only", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 180));
    tx.receiveResponse(responseTo(req, 486));
    expect(tx.state).toBe("Completed");
    expect(user.types()).toEqual(["response:180", "response:486"]);
    expect(sender.startLines()).toEqual([
      "INVITE sip:bob@192.0.2.10:5060;transport=udp SIP/2.0",
      "ACK sip:bob@192.0.2.10:5060;transport=udp SIP/2.0",
    ]);
    tx.receiveResponse(responseTo(req, 486));
    expect(sender.sent).toHaveLength(3);
    expect(sender.sent[2]!.bytes.equals(sender.sent[1]!.bytes)).toBe(true);
    expect(user.types()).toEqual(["response:180", "response:486"]);
    expect(tx.activeTimers()).toEqual(["D"]);
    scheduler.advance(31_999);
    expect(tx.state).toBe("Completed");
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated"); // Timer D: at least 32 s on unreliable transports
  });

  it("RFC 3261 §17.1.1.2: 300-699 in Calling -> Completed directly and stops Timers A and B", () => {
    const { tx, sender, scheduler, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 503));
    expect(tx.state).toBe("Completed");
    expect(tx.activeTimers()).toEqual(["D"]);
    scheduler.advance(10_000);
    expect(sender.startLines().filter((l) => l.startsWith("INVITE"))).toHaveLength(1);
  });

  it("RFC 3261 §17.1.1.2: over a reliable transport the ACK is still sent and Timer D is zero (Completed -> Terminated)", () => {
    const { tx, sender, user, req, terminated } = setup({ reliable: true });
    tx.start();
    tx.receiveResponse(responseTo(req, 404));
    expect(sender.startLines()[1]).toMatch(/^ACK /);
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["response:404", "terminated"]);
    expect(terminated).toEqual([tx]);
  });

  it("RFC 3261 §17.1.1.3: the ACK copies R-URI, Call-ID, From, CSeq number, the single top Via and Route; To from the response", () => {
    const req = request({ routes: ["<sip:edge2.example.net;lr>", "<sip:edge3.example.net;lr;ob>"], cseq: 4711 });
    const { tx, sender } = setup({ req });
    tx.start();
    const res = responseTo(req, 486, "callee-tag");
    tx.receiveResponse(res);
    const ack = parse(sender.sent[1]!.bytes);
    expect(ack.kind).toBe("request");
    if (ack.kind !== "request") return;
    expect(ack.method).toBe("ACK");
    expect(ack.uri).toBe(req.uri);
    expect(ack.callId).toBe(req.callId);
    expect(ack.header("from")).toBe(req.header("from"));
    expect(ack.header("to")).toBe(res.header("to"));
    expect(ack.toTag()).toBe("callee-tag");
    expect(ack.cseq()).toEqual({ seq: 4711, method: "ACK" });
    expect(ack.headerValues("via")).toEqual([req.headerValues("via")[0]]);
    expect(ack.topVia().branch).toBe("z9hG4bKtop1");
    expect(ack.headerValues("route")).toEqual(["<sip:edge2.example.net;lr>", "<sip:edge3.example.net;lr;ob>"]);
    expect(ack.maxForwards()).toBe(70);
    expect(ack.contentLength()).toBe(0);
    expect(ack.hasHeader("contact")).toBe(false);
    expect(tx.ack?.equals(sender.sent[1]!.bytes)).toBe(true);
  });

  it("RFC 6026 §7.2: a 2xx in Calling/Proceeding -> Accepted, to the TU, no ACK; later 2xx go to the TU; Timer M ends it", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 180));
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Accepted");
    expect(tx.activeTimers()).toEqual(["M"]);
    tx.receiveResponse(responseTo(req, 200)); // retransmission
    tx.receiveResponse(responseTo(req, 200, "other-fork"));
    tx.receiveResponse(responseTo(req, 183)); // absorbed
    expect(user.types()).toEqual(["response:180", "response:200", "response:200", "response:200"]);
    expect(sender.sent).toHaveLength(1); // the TU acknowledges 2xx, never the transaction
    scheduler.advance(31_999);
    expect(tx.state).toBe("Accepted");
    scheduler.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(user.types().at(-1)).toBe("terminated");
  });

  it("RFC 6026 §7.2: a 2xx straight in Calling stops Timers A and B", () => {
    const { tx, sender, scheduler, user, req } = setup();
    tx.start();
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Accepted");
    scheduler.advance(31_999);
    expect(sender.sent).toHaveLength(1);
    expect(user.types()).toEqual(["response:200"]);
  });

  it("RFC 3261 §17.1.4: a transport error on the first send -> Terminated and the TU is told (a proxy's 503, §16.9)", () => {
    const { tx, sender, scheduler, user } = setup();
    sender.failNext = "throw";
    tx.start();
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual([{ type: "transport-error", code: "transport-error", state: "Terminated" }, { type: "terminated" }]);
    const err = user.errors[0];
    expect(err).toBeInstanceOf(TransactionError);
    expect((err as TransactionError).sipStatus).toBe(503);
    expect(err?.cause).toBeInstanceOf(Error);
    expect(scheduler.pending).toBe(0);
  });

  it("RFC 3261 §17.1.4: a failed retransmission (send result not ok) terminates the transaction", () => {
    const { tx, sender, scheduler, user } = setup();
    tx.start();
    sender.failNext = "result";
    scheduler.advance(500);
    expect(tx.state).toBe("Terminated");
    expect(user.types()).toEqual(["transport-error", "terminated"]);
    expect(user.errors[0]?.message).toMatch(/flow-gone/);
  });

  it("RFC 3261 §17.1.1.2 Figure 5: illegal transitions throw TransactionStateError", () => {
    const { tx, req } = setup();
    tx.start();
    expect(() => tx.force("Calling")).toThrow(TransactionStateError);
    tx.receiveResponse(responseTo(req, 486));
    try {
      tx.force("Proceeding");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TransactionStateError);
      expect(e).toMatchObject({ name: "TransactionStateError", code: "illegal-transition", from: "Completed", to: "Proceeding", kind: "invite-client" });
    }
    expect(tx.state).toBe("Completed");
    tx.abort();
    expect(() => tx.force("Accepted")).toThrow(/Terminated -> Accepted/);
  });

  it("responses after Terminated are ignored", () => {
    const { tx, user, req, sender } = setup({ reliable: true });
    tx.start();
    tx.receiveResponse(responseTo(req, 486));
    tx.receiveResponse(responseTo(req, 486));
    tx.receiveResponse(responseTo(req, 200));
    expect(user.types()).toEqual(["response:486", "terminated"]);
    expect(sender.sent).toHaveLength(2);
  });

  it("RFC 3261 §9.1: buildCancel copies R-URI, Call-ID, To, From, CSeq number, top Via and Route; method CANCEL", () => {
    const req = request({ routes: ["<sip:edge2.example.net;lr>"], cseq: 7 });
    const { tx } = setup({ req });
    const cancel = parse(tx.buildCancel([["Reason", 'SIP;cause=200;text="Call completed elsewhere"']]));
    if (cancel.kind !== "request") throw new Error("expected request");
    expect(cancel.method).toBe("CANCEL");
    expect(cancel.uri).toBe(req.uri);
    expect(cancel.header("to")).toBe(req.header("to"));
    expect(cancel.header("from")).toBe(req.header("from"));
    expect(cancel.callId).toBe(req.callId);
    expect(cancel.cseq()).toEqual({ seq: 7, method: "CANCEL" });
    expect(cancel.headerValues("via")).toEqual([req.headerValues("via")[0]]);
    expect(cancel.headerValues("route")).toEqual(["<sip:edge2.example.net;lr>"]);
    expect(cancel.header("reason")).toBe('SIP;cause=200;text="Call completed elsewhere"');
  });
});
