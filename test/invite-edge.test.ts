/**
 * INVITE dialogs between UAs registered through the edge, over real UDP and TCP sockets against
 * the embedded system: the worker proxies transaction-statefully (RFC 3261 §16, 100 Trying,
 * forking with CANCEL of the losing branches, §16.10 CANCEL), the edge Record-Routes with flow
 * tokens (RFC 5658 double Record-Route) so ACK and BYE go edge-to-edge, never through a worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import {
  randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, TestUa, type TestUaTransport,
} from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, inDialog, recordRoutes, register as registerAt, via } from "./support/ua.js";

let sys: EmbeddedSystem;
const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });
const WAIT = 10_000;

beforeAll(async () => {
  sys = await startEmbedded();
});
afterAll(async () => {
  await sys?.stop();
});

async function register(ua: TestUa, user: string, contactUser = user): Promise<void> {
  await registerAt(ua, edge(), user, { contactUser });
}

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";

interface Call { readonly text: string; readonly callId: string; readonly fromTag: string; readonly from: string }

function invite(caller: TestUa, callerUser: string, calleeUser: string): Call {
  const fromTag = randomToken(4);
  const callId = `${randomToken()}@call`;
  const from = `<sip:${callerUser}@example.com>;tag=${fromTag}`;
  const text = sipText(`INVITE sip:${calleeUser}@example.com SIP/2.0`, [
    via(caller),
    "Max-Forwards: 70",
    `From: ${from}`,
    `To: <sip:${calleeUser}@example.com>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 INVITE",
    `Contact: <sip:${callerUser}@${caller.hostport};transport=${caller.transport}>`,
    "Content-Type: application/sdp",
  ], SDP);
  return { text, callId, fromTag, from };
}

const isReq = (method: string, callId: string) => (m: string): boolean => sipMethod(m) === method && sipHeader(m, "call-id") === callId;
const isRes = (status: number, method: string, callId: string) => (m: string): boolean =>
  sipStatus(m) === status && sipHeader(m, "call-id") === callId && (sipHeader(m, "cseq") ?? "").endsWith(method);

function contactUri(m: string): string {
  return parseNameAddr(sipHeader(m, "contact")!).uri;
}

describe.each<TestUaTransport>(["udp", "tcp"])("INVITE through the edge over %s", (transport) => {
  it("RFC 3261 §16 / §12: INVITE, 100 Trying, 180, 200, ACK and an in-dialog BYE via Record-Route", async () => {
    await using alice = await TestUa.create({ transport });
    await using bob = await TestUa.create({ transport });
    const bobUser = `bob-${transport}-${randomToken(3)}`;
    await register(bob, bobUser);
    const call = invite(alice, "alice", bobUser);
    alice.send(call.text, edge());

    // RFC 3261 §16.2: the stateful proxy answers 100 Trying for the INVITE at once.
    await alice.nextMessage(isRes(100, "INVITE", call.callId), WAIT);
    const inv = await bob.nextMessage(isReq("INVITE", call.callId), WAIT);
    expect(inv).toMatch(new RegExp(`^INVITE sip:${bobUser}@127\\.0\\.0\\.1:${bob.port};transport=${transport} SIP/2\\.0\r\n`));
    // The edge Record-Routes with its flow tokens (RFC 5658 double Record-Route when sides differ).
    // The edge is crossed twice (public -> internal to the worker, internal -> public to Bob), each time
    // with a double Record-Route: Bob's public side on top, Alice's public side at the bottom, both with
    // the flow token of that UA's flow; the worker adds none (§16.6 step 4 is optional; it is not in dialogs).
    const rr = recordRoutes(inv);
    expect(rr).toHaveLength(4);
    const uris = rr.map((r) => parseSipUri(parseNameAddr(r).uri));
    for (const u of uris) expect(u.params.has("lr")).toBe(true);
    expect(uris[0]!.port).toBe(sys.sipPort);
    expect(uris[3]!.port).toBe(sys.sipPort);
    expect(uris[0]!.user).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(uris[3]!.user).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(uris[0]!.user).not.toBe(uris[3]!.user);

    const bobTag = randomToken(4);
    const bobContact = `<sip:${bobUser}@${bob.hostport};transport=${transport}>`;
    bob.send(answer(inv, 180, "Ringing", { toTag: bobTag }), edge());
    const ringing = await alice.nextMessage(isRes(180, "INVITE", call.callId), WAIT);
    expect(sipHeader(ringing, "to")).toContain(`tag=${bobTag}`);
    bob.send(answer(inv, 200, "OK", { toTag: bobTag, contact: bobContact, body: SDP }), edge());
    const ok = await alice.nextMessage(isRes(200, "INVITE", call.callId), WAIT);
    expect(sipHeaders(ok, "via")).toHaveLength(1);
    expect(recordRoutes(ok)).toEqual(rr);

    // Alice's route set is the Record-Route reversed (§12.1.2); ACK and BYE go to the edge.
    const aliceRoutes = [...recordRoutes(ok)].reverse();
    const aliceTo = sipHeader(ok, "to")!;
    alice.send(inDialog(alice, "ACK", { target: contactUri(ok), routeSet: aliceRoutes, from: call.from, to: aliceTo, callId: call.callId, cseq: 1 }), edge());
    const ack = await bob.nextMessage(isReq("ACK", call.callId), WAIT);
    expect(ack).toMatch(new RegExp(`^ACK sip:${bobUser}@127\\.0\\.0\\.1:${bob.port}`));
    expect(sipHeaders(ack, "route")).toEqual([]);
    // ACK for a 2xx does not pass a worker (§16.12: the worker did not Record-Route): edge Via + Alice's.
    expect(sipHeaders(ack, "via")).toHaveLength(2);

    // Bob hangs up: his route set is the Record-Route in order (§12.1.1).
    const bye = inDialog(bob, "BYE", {
      target: contactUri(call.text), routeSet: rr, from: `<sip:${bobUser}@example.com>;tag=${bobTag}`, to: call.from, callId: call.callId, cseq: 1,
    });
    bob.send(bye, edge());
    const byeAtAlice = await alice.nextMessage(isReq("BYE", call.callId), WAIT);
    expect(byeAtAlice).toMatch(new RegExp(`^BYE sip:alice@127\\.0\\.0\\.1:${alice.port}`));
    expect(sipHeaders(byeAtAlice, "via")).toHaveLength(2);
    alice.send(answer(byeAtAlice, 200, "OK"), edge());
    await bob.nextMessage(isRes(200, "BYE", call.callId), WAIT);
  });

  it("RFC 3261 §16.7 step 10: forking to two contacts, both ring, one answers, the other gets CANCEL", async () => {
    await using alice = await TestUa.create({ transport });
    await using bob1 = await TestUa.create({ transport });
    await using bob2 = await TestUa.create({ transport });
    const bobUser = `fork-${transport}-${randomToken(3)}`;
    await register(bob1, bobUser, `${bobUser}-1`);
    await register(bob2, bobUser, `${bobUser}-2`);
    const call = invite(alice, "alice", bobUser);
    alice.send(call.text, edge());
    const [inv1, inv2] = await Promise.all([bob1.nextMessage(isReq("INVITE", call.callId), WAIT), bob2.nextMessage(isReq("INVITE", call.callId), WAIT)]);
    expect(inv1).toContain(`INVITE sip:${bobUser}-1@`);
    expect(inv2).toContain(`INVITE sip:${bobUser}-2@`);
    bob1.send(answer(inv1, 180, "Ringing", { toTag: "b1" }), edge());
    bob2.send(answer(inv2, 180, "Ringing", { toTag: "b2" }), edge());
    await alice.nextMessage(isRes(180, "INVITE", call.callId), WAIT);
    await alice.nextMessage(isRes(180, "INVITE", call.callId), WAIT);

    bob1.send(answer(inv1, 200, "OK", { toTag: "b1", contact: `<sip:${bobUser}-1@${bob1.hostport};transport=${transport}>`, body: SDP }), edge());
    const ok = await alice.nextMessage(isRes(200, "INVITE", call.callId), WAIT);
    expect(sipHeader(ok, "to")).toContain("tag=b1");

    // The losing branch is cancelled (RFC 3326 Reason says why).
    const cancel = await bob2.nextMessage(isReq("CANCEL", call.callId), WAIT);
    expect(cancel).toMatch(/^CANCEL sip:/);
    expect(sipHeader(cancel, "via")).toBe(sipHeader(inv2, "via"));
    expect(sipHeader(cancel, "reason") ?? "").toMatch(/cause=200/);
    bob2.send(answer(cancel, 200, "OK"), edge());
    bob2.send(answer(inv2, 487, "Request Terminated", { toTag: "b2" }), edge());
    // §17.1.1.3: the proxy's client transaction ACKs the 487 hop by hop.
    const ack487 = await bob2.nextMessage(isReq("ACK", call.callId), WAIT);
    expect(sipHeader(ack487, "cseq")).toBe("1 ACK");
    // The 487 is not forwarded: Alice already has her 200.
    await expect(alice.nextMessage(isRes(487, "INVITE", call.callId), 500)).rejects.toThrow(/no matching message/);

    alice.send(inDialog(alice, "ACK", { target: contactUri(ok), routeSet: [...recordRoutes(ok)].reverse(), from: call.from, to: sipHeader(ok, "to")!, callId: call.callId, cseq: 1 }), edge());
    await bob1.nextMessage(isReq("ACK", call.callId), WAIT);
  });

  it("RFC 3261 §16.10: a CANCEL from the caller is answered 200, cancels the branch, and the 487 reaches the caller", async () => {
    await using alice = await TestUa.create({ transport });
    await using bob = await TestUa.create({ transport });
    const bobUser = `cancel-${transport}-${randomToken(3)}`;
    await register(bob, bobUser);
    const call = invite(alice, "alice", bobUser);
    alice.send(call.text, edge());
    const inv = await bob.nextMessage(isReq("INVITE", call.callId), WAIT);
    bob.send(answer(inv, 180, "Ringing", { toTag: "bb" }), edge());
    await alice.nextMessage(isRes(180, "INVITE", call.callId), WAIT);

    // §9.1: same Request-URI, Call-ID, From, To, CSeq number and the INVITE's top Via.
    const cancel = sipText(`CANCEL sip:${bobUser}@example.com SIP/2.0`, [
      `Via: ${sipHeader(call.text, "via")!}`, "Max-Forwards: 70", `From: ${call.from}`, `To: <sip:${bobUser}@example.com>`,
      `Call-ID: ${call.callId}`, "CSeq: 1 CANCEL",
    ]);
    const cancelOk = await alice.request(cancel, edge(), WAIT);
    expect(sipStatus(cancelOk)).toBe(200);
    const down = await bob.nextMessage(isReq("CANCEL", call.callId), WAIT);
    bob.send(answer(down, 200, "OK"), edge());
    bob.send(answer(inv, 487, "Request Terminated", { toTag: "bb" }), edge());
    const terminated = await alice.nextMessage(isRes(487, "INVITE", call.callId), WAIT);
    expect(sipHeader(terminated, "to")).toContain("tag=bb");
  });

  it("DESIGN §2: INVITE to an unknown user is answered 404 after the 100 Trying", async () => {
    await using alice = await TestUa.create({ transport });
    const call = invite(alice, "alice", `nobody-${randomToken(4)}`);
    const res = await alice.request(call.text, edge(), WAIT);
    expect(sipStatus(res)).toBe(404);
  });
});

describe("INVITE across transports and non-2xx finals", () => {
  it("RFC 5658 / RFC 3261 §12: caller on UDP, callee on TCP: the dialog works both ways and the caller's BYE reaches the callee", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "tcp" });
    const bobUser = `mixed-${randomToken(3)}`;
    await register(bob, bobUser);
    const call = invite(alice, "alice", bobUser);
    alice.send(call.text, edge());
    const inv = await bob.nextMessage(isReq("INVITE", call.callId), WAIT);
    const rr = recordRoutes(inv);
    // Bob's side of the edge is TCP, Alice's UDP (RFC 5658: each side names its own transport).
    expect(rr[0]).toMatch(/;transport=tcp/);
    expect(rr.at(-1)).not.toMatch(/transport=tcp/);
    bob.send(answer(inv, 200, "OK", { toTag: "bt", contact: `<sip:${bobUser}@${bob.hostport};transport=tcp>`, body: SDP }), edge());
    const ok = await alice.nextMessage(isRes(200, "INVITE", call.callId), WAIT);
    const routeSet = [...recordRoutes(ok)].reverse();
    const to = sipHeader(ok, "to")!;
    alice.send(inDialog(alice, "ACK", { target: contactUri(ok), routeSet, from: call.from, to, callId: call.callId, cseq: 1 }), edge());
    await bob.nextMessage(isReq("ACK", call.callId), WAIT);
    alice.send(inDialog(alice, "BYE", { target: contactUri(ok), routeSet, from: call.from, to, callId: call.callId, cseq: 2 }), edge());
    const bye = await bob.nextMessage(isReq("BYE", call.callId), WAIT);
    expect(bye).toMatch(new RegExp(`^BYE sip:${bobUser}@127\\.0\\.0\\.1:${bob.port};transport=tcp SIP/2\\.0`));
    bob.send(answer(bye, 200, "OK"), edge());
    await alice.nextMessage(isRes(200, "BYE", call.callId), WAIT);
  });

  it("RFC 3261 §17.2.1: a 486 is retransmitted to a UDP caller until its ACK, which the worker's transaction absorbs", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "udp" });
    const bobUser = `busy-${randomToken(3)}`;
    await register(bob, bobUser);
    const call = invite(alice, "alice", bobUser);
    alice.send(call.text, edge());
    const inv = await bob.nextMessage(isReq("INVITE", call.callId), WAIT);
    bob.send(answer(inv, 486, "Busy Here", { toTag: "busy" }), edge());
    // The worker's client transaction ACKs Bob's 486 hop by hop (§17.1.1.3).
    await bob.nextMessage(isReq("ACK", call.callId), WAIT);
    const first = await alice.nextMessage(isRes(486, "INVITE", call.callId), WAIT);
    // Timer G: no ACK from Alice yet, so the 486 comes again (T1 = 500 ms later).
    const again = await alice.nextMessage(isRes(486, "INVITE", call.callId), WAIT);
    expect(again).toBe(first);
    // §17.1.1.3: the ACK for a non-2xx has the INVITE's top Via (same branch) and the response's To.
    const ack = sipText(`ACK sip:${bobUser}@example.com SIP/2.0`, [
      `Via: ${sipHeader(call.text, "via")!}`, "Max-Forwards: 70", `From: ${call.from}`, `To: ${sipHeader(first, "to")!}`,
      `Call-ID: ${call.callId}`, "CSeq: 1 ACK",
    ]);
    alice.send(ack, edge());
    // Absorbed: Timer G stops. Its next firings would be 1 s and 2 s later; none may arrive in 3.5 s.
    const late = await alice.nextMessage(isRes(486, "INVITE", call.callId), 3500).catch(() => undefined);
    // One retransmission may already have been in flight when the ACK left.
    if (late !== undefined) await expect(alice.nextMessage(isRes(486, "INVITE", call.callId), 3500)).rejects.toThrow(/no matching message/);
    // The ACK is hop-by-hop: it never reaches Bob (he got the worker's own ACK above).
    expect(bob.received.filter((m) => sipMethod(m) === "ACK")).toHaveLength(1);
  });
});

describe("INVITE to a TCP callee that disconnected", () => {
  it("RFC 5626 §5.3 / DESIGN §3: 480 at once, not after Timer B", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "tcp" });
    const bobUser = `tcpgone-${randomToken(3)}`;
    await register(bob, bobUser);
    await bob.dropConnection(edge());
    const call = invite(alice, "alice", bobUser);
    // Timer B is 32 s; the 8 s request timeout is the assertion that it fails fast.
    const res = await alice.request(call.text, edge(), 8000);
    expect(sipStatus(res)).toBe(480);
    expect(bob.received.filter((m) => sipMethod(m) === "INVITE")).toEqual([]);
  });
});
