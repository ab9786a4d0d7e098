import { describe, expect, it } from "vitest";
import { TransactionLayer } from "./layer.js";
import { TransactionError } from "./errors.js";
import { FakeScheduler, FakeSender, RecordingClientUser, TCP, UDP, request, responseBytes, responseTo } from "./test-support.js";

function setup() {
  const scheduler = new FakeScheduler();
  const sender = new FakeSender(scheduler);
  const layer = new TransactionLayer({ sender, scheduler });
  return { scheduler, sender, layer };
}

describe("TransactionLayer — server side (RFC 3261 §17.2.3)", () => {
  it("§17.2.3: a new request makes a server transaction; the same branch + sent-by + method is a retransmission", () => {
    const { layer, sender } = setup();
    const first = layer.handleRequest(request({ method: "MESSAGE" }), UDP);
    expect(first.kind).toBe("new");
    if (first.kind !== "new") return;
    first.tx.respond(200, responseBytes(first.tx.request, 200));
    const again = layer.handleRequest(request({ method: "MESSAGE" }), UDP);
    expect(again).toEqual({ kind: "retransmission", tx: first.tx });
    // The Completed transaction answered the retransmission with its final (§17.2.2).
    expect(sender.startLines()).toEqual(["SIP/2.0 200 OK", "SIP/2.0 200 OK"]);
    expect(layer.sizes()).toEqual({ client: 0, server: 1 });
  });

  it("§17.2.3: a different sent-by or method with the same branch is a different transaction", () => {
    const { layer } = setup();
    expect(layer.handleRequest(request({ method: "OPTIONS" }), UDP).kind).toBe("new");
    expect(layer.handleRequest(request({ method: "OPTIONS", sentBy: "edge2.example.net:5060" }), UDP).kind).toBe("new");
    expect(layer.handleRequest(request({ method: "INFO" }), UDP).kind).toBe("new");
    expect(layer.sizes().server).toBe(3);
  });

  it("§17.2.3 RFC 2543 fallback: without a magic-cookie branch, R-URI, From tag, Call-ID, CSeq and top Via identify the transaction", () => {
    const { layer } = setup();
    expect(layer.handleRequest(request({ method: "MESSAGE", branch: null }), UDP).kind).toBe("new");
    expect(layer.handleRequest(request({ method: "MESSAGE", branch: null }), UDP).kind).toBe("retransmission");
    expect(layer.handleRequest(request({ method: "MESSAGE", branch: null, cseq: 2 }), UDP).kind).toBe("new");
  });

  it("§17.2.1: the ACK for our non-2xx final is absorbed by the INVITE server transaction", () => {
    const { layer } = setup();
    const d = layer.handleRequest(request(), UDP);
    if (d.kind !== "new" || d.tx.kind !== "invite-server") throw new Error("expected an INVITE server transaction");
    d.tx.respond(486, responseBytes(d.tx.request, 486));
    const ack = layer.handleRequest(request({ method: "ACK", toTag: "s9" }), UDP);
    expect(ack).toEqual({ kind: "ack-absorbed", tx: d.tx });
    expect(d.tx.state).toBe("Confirmed");
  });

  it("RFC 6026 §7.1: an ACK reaching an INVITE server transaction in Accepted goes to the TU; an unknown one too (2xx ACK, §13.2.2.4)", () => {
    const { layer } = setup();
    const d = layer.handleRequest(request(), UDP);
    if (d.kind !== "new" || d.tx.kind !== "invite-server") throw new Error("expected an INVITE server transaction");
    d.tx.respond(200, responseBytes(d.tx.request, 200));
    expect(layer.handleRequest(request({ method: "ACK", toTag: "s9" }), UDP)).toEqual({ kind: "ack-for-2xx", tx: d.tx });
    expect(layer.handleRequest(request({ method: "ACK", branch: "z9hG4bKother", toTag: "s9" }), UDP)).toEqual({ kind: "ack-for-2xx", tx: undefined });
  });

  it("§9.2: a CANCEL matching a pending INVITE gets its own server transaction and names the INVITE's", () => {
    const { layer } = setup();
    const inv = layer.handleRequest(request(), UDP);
    if (inv.kind !== "new") throw new Error("expected new");
    const c = layer.handleRequest(request({ method: "CANCEL" }), UDP);
    expect(c.kind).toBe("cancel");
    if (c.kind !== "cancel") return;
    expect(c.inviteTx).toBe(inv.tx);
    expect(c.tx.kind).toBe("non-invite-server");
    expect(c.tx.method).toBe("CANCEL");
    // A retransmitted CANCEL matches the CANCEL transaction, not the INVITE (§17.2.3 method rule).
    expect(layer.handleRequest(request({ method: "CANCEL" }), UDP)).toEqual({ kind: "retransmission", tx: c.tx });
  });

  it("§16.10: a CANCEL without an INVITE server transaction is stray and creates nothing", () => {
    const { layer } = setup();
    expect(layer.handleRequest(request({ method: "CANCEL" }), UDP)).toEqual({ kind: "stray-cancel" });
    expect(layer.size()).toBe(0);
  });

  it("a terminated transaction leaves the table; whenIdle resolves once nothing is live", async () => {
    const { layer } = setup();
    const d = layer.handleRequest(request({ method: "MESSAGE" }), TCP);
    if (d.kind !== "new") throw new Error("expected new");
    let idle = false;
    const p = layer.whenIdle().then(() => { idle = true; });
    await Promise.resolve();
    expect(idle).toBe(false);
    d.tx.respond(200, responseBytes(d.tx.request, 200)); // Timer J = 0 over TCP
    await p;
    expect(idle).toBe(true);
    expect(layer.size()).toBe(0);
    expect(layer.handleRequest(request({ method: "MESSAGE" }), TCP).kind).toBe("new");
  });

  it("createServer refuses ACK and duplicates with typed errors", () => {
    const { layer } = setup();
    expect(() => layer.createServer(request({ method: "ACK" }), UDP)).toThrow(TransactionError);
    layer.createServer(request({ method: "MESSAGE" }), UDP);
    try {
      layer.createServer(request({ method: "MESSAGE" }), UDP);
      expect.unreachable();
    } catch (err) {
      expect((err as TransactionError).code).toBe("duplicate-transaction");
    }
  });

  it("stop() aborts every transaction without sending and refuses further use", () => {
    const { layer, sender, scheduler } = setup();
    const d = layer.handleRequest(request(), UDP);
    if (d.kind !== "new") throw new Error("expected new");
    d.tx.respond(486, responseBytes(d.tx.request, 486));
    layer.stop();
    scheduler.advance(60_000);
    expect(sender.sent).toHaveLength(1);
    expect(d.tx.state).toBe("Terminated");
    expect(() => layer.handleRequest(request({ method: "OPTIONS" }), UDP)).toThrow(/stopped/);
  });
});

describe("TransactionLayer — client side (RFC 3261 §17.1.3)", () => {
  it("§17.1.3: responses match by top Via branch AND CSeq method (a CANCEL shares the INVITE's branch)", () => {
    const { layer } = setup();
    const user = new RecordingClientUser();
    const inv = layer.createClient(request(), UDP, user);
    const cancelUser = new RecordingClientUser();
    layer.createClient(request({ method: "CANCEL" }), UDP, cancelUser);
    expect(layer.handleResponse(responseTo(request({ method: "CANCEL" }), 200)).kind).toBe("matched");
    expect(cancelUser.types()).toEqual(["response:200"]);
    expect(user.types()).toEqual([]);
    expect(layer.handleResponse(responseTo(request(), 180)).kind).toBe("matched");
    expect(user.types()).toEqual(["response:180"]);
    expect(inv.state).toBe("Proceeding");
    expect(layer.handleResponse(responseTo(request({ branch: "z9hG4bKnope" }), 200))).toEqual({ kind: "stray" });
  });

  it("§8.1.1.7: a client request without a magic-cookie branch and an ACK are refused", () => {
    const { layer } = setup();
    const user = new RecordingClientUser();
    expect(() => layer.createClient(request({ branch: "old-2543" }), UDP, user)).toThrow(/z9hG4bK/);
    expect(() => layer.createClient(request({ method: "ACK" }), UDP, user)).toThrow(/ACK/);
  });
});
