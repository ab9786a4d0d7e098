/**
 * What a transaction keeps once its final response is out (issue 7: a UDP server transaction waits
 * 32 s in Completed, Timer J): only what RFC 3261 §17 still uses — the bytes it resends, the matching
 * key, the To tag for RFC 2543 ACK matching — and not the parsed request.
 */
import { describe, expect, it } from "vitest";
import { TransactionError } from "./errors.js";
import { InviteClientTransaction } from "./invite-client.js";
import { InviteServerTransaction } from "./invite-server.js";
import { TransactionLayer } from "./layer.js";
import { NonInviteClientTransaction } from "./non-invite-client.js";
import { NonInviteServerTransaction } from "./non-invite-server.js";
import type { SipResponse } from "@edgepath/sip";
import type { ClientTransactionUser } from "./types.js";
import { FakeScheduler, FakeSender, RecordingClientUser, RecordingServerUser, TCP, UDP, env, request, requestText, responseBytes, responseTo } from "./test-support.js";

function released(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    return err instanceof TransactionError ? err.code : `unexpected ${String(err)}`;
  }
  return "not released";
}

describe("transactions release the request after the final response", () => {
  it("RFC 3261 §17.2.2: a non-INVITE server in Completed keeps only the final; retransmissions still get it byte for byte", () => {
    const e = env();
    const req = request({ method: "REGISTER" });
    const tx = new NonInviteServerTransaction(req, UDP, new RecordingServerUser(), e.env);
    expect(tx.request).toBe(req);
    expect(tx.holdsRequest).toBe(true);
    const final = responseBytes(req, 200);
    tx.respond(200, final);
    expect(tx.state).toBe("Completed");
    expect(tx.holdsRequest).toBe(false);
    expect(released(() => tx.request)).toBe("request-released");
    // Matching and metrics data survive the release.
    expect(tx.method).toBe("REGISTER");
    expect(tx.branch).toBe("z9hG4bKtop1");
    tx.receiveRetransmission();
    expect(e.sender.sent.map((s) => s.bytes.equals(final))).toEqual([true, true]);
  });

  it("RFC 3261 §17.2.2: the held final over UDP is a copy in the retransmission slab, not a view pinning the pool's 8 KiB slab for Timer J", () => {
    const e = env();
    const reqs = [request({ method: "REGISTER", branch: "z9hG4bKslab1" }), request({ method: "REGISTER", branch: "z9hG4bKslab2" })];
    const pooled = reqs.map((r) => responseBytes(r, 200));
    expect(pooled[0]!.buffer.byteLength).toBeGreaterThan(pooled[0]!.length); // Buffer.from(string) is a pool view
    const txs = reqs.map((r, i) => {
      const tx = new NonInviteServerTransaction(r, UDP, new RecordingServerUser(), e.env);
      tx.respond(200, pooled[i]!);
      tx.receiveRetransmission();
      return tx;
    });
    expect(txs.map((t) => t.state)).toEqual(["Completed", "Completed"]);
    const resent = [e.sender.sent[1]!.bytes, e.sender.sent[3]!.bytes];
    expect(resent.map((b, i) => b.equals(pooled[i]!))).toEqual([true, true]);
    // Not the pool's slab, and both finals side by side in one shared retransmission slab.
    expect(resent[0]!.buffer).not.toBe(pooled[0]!.buffer);
    expect(resent[0]!.buffer.byteLength).toBe(64 * 1024);
    expect(resent[1]!.buffer).toBe(resent[0]!.buffer);
    expect(resent[1]!.byteOffset).toBe(resent[0]!.byteOffset + resent[0]!.length);
  });

  it("RFC 3261 §17.2.2: over TCP the final is kept as it came (Timer J is zero, nothing is resent)", () => {
    const e = env();
    const req = request({ method: "REGISTER" });
    const tx = new NonInviteServerTransaction(req, TCP, new RecordingServerUser(), e.env);
    const final = responseBytes(req, 200);
    tx.respond(200, final);
    expect(tx.state).toBe("Terminated");
    expect(e.sender.sent[0]!.bytes).toBe(final);
  });

  it("RFC 3261 §17.2.1: an INVITE server's last provisional, resent for retransmissions while the phone rings, is an exact-size copy over UDP", () => {
    const e = env();
    const req = request();
    const tx = new InviteServerTransaction(req, UDP, new RecordingServerUser(), e.env);
    const pooled = responseBytes(req, 180);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    tx.respond(180, pooled);
    tx.receiveRetransmission();
    const resent = e.sender.sent.at(-1)!.bytes;
    expect(resent.equals(pooled)).toBe(true);
    expect(resent.buffer.byteLength).toBe(resent.length);
  });

  it("RFC 3261 §17.2.2: a provisional alone does not release the request (Proceeding still needs it)", () => {
    const e = env();
    const req = request({ method: "MESSAGE" });
    const tx = new NonInviteServerTransaction(req, UDP, new RecordingServerUser(), e.env);
    tx.respond(100, responseBytes(req, 100));
    expect(tx.request).toBe(req);
  });

  it("RFC 3261 §17.2.1: an INVITE server in Completed releases the request and still resends the final on Timer G and matches the ACK", () => {
    const e = env();
    const req = request();
    const tx = new InviteServerTransaction(req, UDP, new RecordingServerUser(), e.env);
    expect(tx.sendTrying()).toBe(true);
    tx.respond(486, responseBytes(req, 486), "s9");
    expect(tx.state).toBe("Completed");
    expect(released(() => tx.request)).toBe("request-released");
    expect(tx.responseToTag).toBe("s9");
    e.scheduler.advance(500); // Timer G = T1
    expect(e.sender.startLines()).toEqual(["SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here", "SIP/2.0 486 Busy Here"]);
    expect(tx.receiveAck()).toBe("absorbed");
    expect(tx.state).toBe("Confirmed");
  });

  it("RFC 6026 §7.1: an INVITE server in Accepted releases the request; a retransmitted 2xx from the TU is still sent", () => {
    const e = env();
    const req = request();
    const tx = new InviteServerTransaction(req, UDP, new RecordingServerUser(), e.env);
    const ok = responseBytes(req, 200);
    tx.respond(200, ok);
    expect(tx.state).toBe("Accepted");
    expect(tx.holdsRequest).toBe(false);
    expect(tx.sendTrying()).toBe(false);
    expect(tx.respond(200, ok)).toBe(true);
    expect(e.sender.startLines()).toEqual(["SIP/2.0 200 OK", "SIP/2.0 200 OK"]);
  });

  it("RFC 3261 §17.1.2.2: a non-INVITE client in Completed (Timer K) releases the request; retransmitted finals are absorbed", () => {
    const e = env();
    const user = new RecordingClientUser();
    const req = request({ method: "OPTIONS" });
    const tx = new NonInviteClientTransaction(req, UDP, user, e.env);
    tx.start();
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Completed");
    expect(tx.holdsRequest).toBe(false);
    tx.receiveResponse(responseTo(req, 200));
    expect(user.types()).toEqual(["response:200"]);
    e.scheduler.advance(5000); // Timer K = T4
    expect(tx.state).toBe("Terminated");
  });

  it("RFC 3261 §17.1.1.2: an INVITE client in Completed releases the request and re-sends the ACK it built for a retransmitted non-2xx", () => {
    const e = env();
    const user = new RecordingClientUser();
    const req = request();
    const tx = new InviteClientTransaction(req, UDP, user, e.env);
    tx.start();
    tx.receiveResponse(responseTo(req, 180));
    // §9.1: CANCEL is possible while the INVITE is pending...
    expect(tx.buildCancel().toString("latin1")).toMatch(/^CANCEL /);
    const busy = responseTo(req, 486);
    tx.receiveResponse(busy);
    expect(tx.state).toBe("Completed");
    // ...and pointless once it has a final response: the request is gone.
    expect(released(() => tx.buildCancel())).toBe("request-released");
    tx.receiveResponse(busy);
    const acks = e.sender.sent.filter((s) => s.text.startsWith("ACK "));
    expect(acks).toHaveLength(2);
    expect(acks[1]!.bytes.equals(acks[0]!.bytes)).toBe(true);
    expect(acks[0]!.text).toContain("CSeq: 1 ACK");
  });

  it("RFC 6026 §7.2: an INVITE client in Accepted releases the request and still passes further 2xx to the TU", () => {
    const e = env();
    const user = new RecordingClientUser();
    const req = request();
    const tx = new InviteClientTransaction(req, TCP, user, e.env);
    tx.start();
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.holdsRequest).toBe(false);
    tx.receiveResponse(responseTo(req, 200, "fork2"));
    expect(user.types()).toEqual(["response:200", "response:200"]);
  });

  it("RFC 3261 §17.1.4: a transport failure on the final keeps the request for the TU's error handling", () => {
    const e = env();
    e.sender.failNext = "result";
    const req = request({ method: "REGISTER" });
    const user = new RecordingServerUser();
    const tx = new NonInviteServerTransaction(req, UDP, user, e.env);
    expect(tx.respond(200, responseBytes(req, 200))).toBe(false);
    expect(tx.state).toBe("Terminated");
    expect(user.events).toEqual(["transport-error", "terminated"]);
    expect(tx.request).toBe(req);
  });

  it("RFC 3261 §17.1.1: an INVITE client transaction created from pooled bytes keeps an exact-size copy (held until the final, minutes while ringing); a MESSAGE keeps its bytes", () => {
    const scheduler = new FakeScheduler();
    const sender = new FakeSender(scheduler);
    const layer = new TransactionLayer({ sender, scheduler });
    const inviteBytes = Buffer.from(requestText(), "latin1");
    expect(inviteBytes.buffer.byteLength).toBeGreaterThan(inviteBytes.length); // a pool view
    const inv = layer.createClient(inviteBytes, UDP, new RecordingClientUser());
    expect(inv.request.raw.equals(inviteBytes)).toBe(true);
    expect(inv.request.raw.buffer.byteLength).toBe(inv.request.raw.length);
    const messageBytes = Buffer.from(requestText({ method: "MESSAGE", branch: "z9hG4bKmsg1" }), "latin1");
    const msg = layer.createClient(messageBytes, UDP, new RecordingClientUser());
    expect(msg.request.raw.buffer).toBe(messageBytes.buffer);
    layer.stop();
  });

  it("RFC 3261 §17.2.3: the layer still matches a retransmission by key after the release and answers it", () => {
    const scheduler = new FakeScheduler();
    const sender = new FakeSender(scheduler);
    const layer = new TransactionLayer({ sender, scheduler });
    const req = request({ method: "REGISTER" });
    const d = layer.handleRequest(req, UDP);
    if (d.kind !== "new") throw new Error(`expected a new transaction, got ${d.kind}`);
    d.tx.respond(200, responseBytes(req, 200));
    const again = layer.handleRequest(request({ method: "REGISTER" }), UDP);
    if (again.kind !== "retransmission") throw new Error(`expected a retransmission, got ${again.kind}`);
    expect(again.tx).toBe(d.tx);
    expect(sender.startLines()).toEqual(["SIP/2.0 200 OK", "SIP/2.0 200 OK"]);
    layer.stop();
  });
});

describe("ServerTransactionUser.onFinalResponse", () => {
  it("RFC 3261 §17.2.1/§17.2.2: reported once per transaction for the first final that went out, not for 1xx, not when the send failed", () => {
    const e = env();
    const seen: string[] = [];
    const user = { onFinalResponse: (tx: { method: string; state: string }, status: number) => { seen.push(`${tx.method} ${status} ${tx.state}`); } };
    const msg = request({ method: "MESSAGE" });
    const nist = new NonInviteServerTransaction(msg, UDP, user, e.env);
    nist.respond(100, responseBytes(msg, 100));
    nist.respond(202, responseBytes(msg, 202));
    nist.respond(500, responseBytes(msg, 500)); // discarded in Completed
    const inv = request({ branch: "z9hG4bKinv2" });
    new InviteServerTransaction(inv, UDP, user, e.env).respond(200, responseBytes(inv, 200));
    const inv3 = request({ branch: "z9hG4bKinv3" });
    new InviteServerTransaction(inv3, TCP, user, e.env).respond(480, responseBytes(inv3, 480));
    e.sender.failNext = "throw";
    const lost = request({ method: "OPTIONS", branch: "z9hG4bKopt" });
    new NonInviteServerTransaction(lost, UDP, user, e.env).respond(200, responseBytes(lost, 200));
    expect(seen).toEqual(["MESSAGE 202 Completed", "INVITE 200 Accepted", "INVITE 480 Completed"]);
  });
});

describe("transactions share one owned copy of their send target", () => {
  it("equal targets are one frozen object, not the TU's (whose address may be a view into the request text)", () => {
    const e = env();
    // As a TU builds it: the address cut out of a longer string (a Via host of >= 13 characters).
    const text = "Via: SIP/2.0/UDP 192.168.100.200:5070;branch=z9hG4bKx";
    const fromRequest = { transport: "udp" as const, address: text.slice(17, 32), port: 5070 };
    expect(fromRequest.address).toBe("192.168.100.200");
    const a = new NonInviteServerTransaction(request({ method: "REGISTER", branch: "z9hG4bKt1" }), fromRequest, new RecordingServerUser(), e.env);
    const b = new NonInviteServerTransaction(request({ method: "REGISTER", branch: "z9hG4bKt2" }), { ...fromRequest }, new RecordingServerUser(), e.env);
    expect(a.target).not.toBe(fromRequest);
    expect(a.target).toEqual(fromRequest);
    expect(b.target).toBe(a.target);
    expect(Object.isFrozen(a.target)).toBe(true);
    const c = new NonInviteServerTransaction(request({ method: "REGISTER", branch: "z9hG4bKt3" }), { ...fromRequest, port: 5071 }, new RecordingServerUser(), e.env);
    expect(c.target).not.toBe(a.target);
    expect(c.target.port).toBe(5071);
  });
});

/** A client TU without onTerminated (like the location proxy's) that records the statuses it is given. */
function statusUser(): ClientTransactionUser & { statuses: number[] } {
  const statuses: number[] = [];
  return { statuses, onResponse: (res: SipResponse) => void statuses.push(res.status), onTimeout: () => {}, onTransportError: () => {} };
}

describe("a non-INVITE client transaction lets its TU go in Completed (RFC 3261 §17.1.2.2: only absorbs retransmissions)", () => {
  it("a TU without onTerminated is dropped after the final response; one with it is kept and told at Timer K", () => {
    const e = env();
    const plain = statusUser();
    const tx = new NonInviteClientTransaction(request({ method: "MESSAGE", branch: "z9hG4bKu1" }), UDP, plain, e.env);
    tx.start();
    expect(tx.user).toBe(plain);
    tx.receiveResponse(responseTo(tx.request, 200));
    expect(plain.statuses).toEqual([200]);
    expect(tx.state).toBe("Completed");
    expect(tx.user).not.toBe(plain); // the proxy context behind it can be collected during T4
    tx.receiveResponse(responseTo(request({ method: "MESSAGE", branch: "z9hG4bKu1" }), 200)); // absorbed
    expect(plain.statuses).toEqual([200]);

    const recording = new RecordingClientUser();
    const kept = new NonInviteClientTransaction(request({ method: "MESSAGE", branch: "z9hG4bKu2" }), UDP, recording, e.env);
    kept.start();
    kept.receiveResponse(responseTo(kept.request, 200));
    expect(kept.user).toBe(recording);
    e.scheduler.advance(5000); // Timer K = T4
    expect(recording.types()).toEqual(["response:200", "terminated"]);
  });
});

describe("an INVITE client transaction lets its TU go in Completed, not in Accepted", () => {
  /** An INVITE client transaction over UDP, started (Calling), with a TU that records statuses. */
  const calling = (branch: string) => {
    const e = env();
    const user = statusUser();
    const tx = new InviteClientTransaction(request({ method: "INVITE", branch }), UDP, user, e.env);
    tx.start();
    return { e, user, tx, req: tx.request };
  };

  it("RFC 3261 §17.1.1.2: after a non-2xx and its ACK (Timer D, 32 s over UDP) the TU is dropped; retransmitted finals still get the ACK", () => {
    const { e, user, tx, req } = calling("z9hG4bKi1");
    tx.receiveResponse(responseTo(req, 486));
    expect(tx.state).toBe("Completed");
    expect(user.statuses).toEqual([486]);
    expect(tx.user).not.toBe(user);
    const acks = (): number => e.sender.sent.filter((s) => s.text.startsWith("ACK ")).length;
    expect(acks()).toBe(1);
    tx.receiveResponse(responseTo(req, 486));
    expect(acks()).toBe(2); // §17.1.1.2: the ACK is re-passed to the transport
    expect(user.statuses).toEqual([486]); // and the retransmission is not passed up
  });

  it("RFC 6026 §7.2: in Accepted the TU is kept, since 2xx retransmissions go to it", () => {
    const { user, tx, req } = calling("z9hG4bKi2");
    tx.receiveResponse(responseTo(req, 200));
    tx.receiveResponse(responseTo(req, 200));
    expect(tx.state).toBe("Accepted");
    expect(tx.user).toBe(user);
    expect(user.statuses).toEqual([200, 200]);
  });
});
