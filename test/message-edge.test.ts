/**
 * MESSAGE (RFC 3428 pager mode) from one UA to another registered through the edge, over real
 * UDP and TCP sockets against the embedded system (one edge, two workers): edge -> owning worker
 * (location proxy, RFC 3261 §16) -> the edge holding the callee's flow (Route = Path, RFC 3327) ->
 * callee. Also forking to two contacts, 404 / 480, and fast failure after a TCP callee disconnects.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipBody, sipHeader, sipHeaders, sipMethod, sipStatus, TestUa, waitFor, type TestUaTransport } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, aorView as aorViewAt, isMessage, messageText, register as registerAt, type AorView, type RegisterOptions } from "./support/ua.js";

let sys: EmbeddedSystem;
const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

beforeAll(async () => {
  // Min-Expires 1 so a binding can be watched expiring within a test.
  sys = await startEmbedded({ EDGEPATH_MIN_EXPIRES: "1" });
});
afterAll(async () => {
  await sys?.stop();
});

const register = (ua: TestUa, user: string, o?: RegisterOptions): Promise<string> => registerAt(ua, edge(), user, o);
const aorView = (user: string): Promise<AorView> => aorViewAt(sys.adminUrl, user);

describe.each<TestUaTransport>(["udp", "tcp"])("MESSAGE through the edge over %s", (transport) => {
  it("RFC 3428 §4/§7: a MESSAGE reaches the registered callee without Record-Route; its 200 reaches the sender", async () => {
    await using bob = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `bob-${transport}-${randomToken(3)}`;
    await register(bob, bobUser);
    const text = messageText(alice, "alice", bobUser, "hello bob");
    const callId = sipHeader(text, "call-id")!;
    const pending = alice.request(text, edge(), 10_000);
    const got = await bob.nextMessage(isMessage(callId), 10_000);
    // RFC 3261 §16.6 step 6: the Request-URI is the registered contact.
    expect(got).toMatch(new RegExp(`^MESSAGE sip:${bobUser}@127\\.0\\.0\\.1:${bob.port};transport=${transport} SIP/2\\.0\r\n`));
    expect(sipBody(got)).toBe("hello bob");
    // RFC 3428 §7: "Proxies ... SHOULD NOT insert Record-Route"; the edge's Route was popped.
    expect(sipHeaders(got, "record-route")).toEqual([]);
    expect(sipHeaders(got, "route")).toEqual([]);
    // Edge (in), worker, edge (out) each add a Via above Alice's.
    const vias = sipHeaders(got, "via");
    expect(vias.length).toBe(4);
    // The inbound edge stamped the request for the worker's overload control (EDGE_SENT_AT_HEADER,
    // test/overload-edge.test.ts sees it arrive); that stamp is internal: the outbound edge
    // removed it, and nothing of it is in a Via.
    expect(sipHeaders(got, "x-edgepath-sent-at")).toEqual([]);
    for (const v of vias) expect(v).not.toMatch(/;ts=/);
    bob.send(answer(got, 200, "OK"), edge());
    const res = await pending;
    expect(sipStatus(res)).toBe(200);
    expect(sipHeaders(res, "via")).toHaveLength(1);
    expect(sipHeader(res, "via")).toContain(alice.hostport);
  });

  it("RFC 3261 §16.4 / RFC 3263: a UA whose outbound proxy is the served domain (Route: <sip:example.com;lr>) registers and sends through the edge", async () => {
    await using bob = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `bob-obp-${transport}-${randomToken(3)}`;
    // The domain names the edge (Kamailio's alias): popped like any entry of ours, never a next hop.
    const outboundProxy = "Route: <sip:example.com;lr>";
    await register(bob, bobUser, { extra: [outboundProxy] });
    const text = messageText(alice, "alice", bobUser, "via the domain", { extra: [outboundProxy] });
    const callId = sipHeader(text, "call-id")!;
    const pending = alice.request(text, edge(), 10_000);
    const got = await bob.nextMessage(isMessage(callId), 10_000);
    expect(sipBody(got)).toBe("via the domain");
    expect(sipHeaders(got, "route")).toEqual([]);
    bob.send(answer(got, 200, "OK"), edge());
    expect(sipStatus(await pending)).toBe(200);
  });

  it("RFC 3261 §16.7: a 4xx from the callee is the answer (not a retry or 408)", async () => {
    await using bob = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `busy-${transport}-${randomToken(3)}`;
    await register(bob, bobUser);
    const text = messageText(alice, "alice", bobUser, "are you there");
    const pending = alice.request(text, edge(), 10_000);
    const got = await bob.nextMessage(isMessage(sipHeader(text, "call-id")), 10_000);
    bob.send(answer(got, 486, "Busy Here"), edge());
    expect(sipStatus(await pending)).toBe(486);
  });

  it("RFC 3261 §16.6: a MESSAGE to an AOR with two contacts forks to both; exactly one 200 goes upstream", async () => {
    await using bob1 = await TestUa.create({ transport });
    await using bob2 = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `fork-${transport}-${randomToken(3)}`;
    await register(bob1, bobUser, { contactUser: `${bobUser}-1` });
    await register(bob2, bobUser, { contactUser: `${bobUser}-2` });
    const text = messageText(alice, "alice", bobUser, "to both");
    const callId = sipHeader(text, "call-id")!;
    const pending = alice.request(text, edge(), 10_000);
    const [m1, m2] = await Promise.all([bob1.nextMessage(isMessage(callId), 10_000), bob2.nextMessage(isMessage(callId), 10_000)]);
    expect(m1).toContain(`MESSAGE sip:${bobUser}-1@`);
    expect(m2).toContain(`MESSAGE sip:${bobUser}-2@`);
    bob1.send(answer(m1, 200, "OK"), edge());
    expect(sipStatus(await pending)).toBe(200);
    bob2.send(answer(m2, 200, "OK"), edge());
    // The second 200 to a non-INVITE is absorbed by the proxy (§16.7 step 5: only the first final goes up).
    await expect(alice.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId, 500)).rejects.toThrow(/no matching message/);
  });

  it("DESIGN §2: 404 Not Found for a user that never registered", async () => {
    await using alice = await TestUa.create({ transport });
    const res = await alice.request(messageText(alice, "alice", `nobody-${randomToken(4)}`, "hi"), edge(), 10_000);
    expect(sipStatus(res)).toBe(404);
  });

  it("DESIGN §2: 480 for a known user whose only binding was removed (RFC 3261 §10.2.2 Expires: 0)", async () => {
    await using bob = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `gone-${transport}-${randomToken(3)}`;
    const callId = randomToken();
    await register(bob, bobUser, { callId, cseq: 1 });
    await register(bob, bobUser, { callId, cseq: 2, expires: 0 });
    const res = await alice.request(messageText(alice, "alice", bobUser, "hi"), edge(), 10_000);
    expect(sipStatus(res)).toBe(480);
    expect(bob.received.filter((m) => sipMethod(m) === "MESSAGE")).toEqual([]);
  });

  it("RFC 3261 §10.2.1: 480 once a binding expired (the user stays known)", async () => {
    await using bob = await TestUa.create({ transport });
    await using alice = await TestUa.create({ transport });
    const bobUser = `expired-${transport}-${randomToken(3)}`;
    await register(bob, bobUser, { expires: 1 });
    // Expiry is enforced on read (DESIGN §4): wait until the admin view no longer lists it.
    await waitFor(async () => ((await aorView(bobUser)).bindings.length === 0 ? true : undefined), {
      timeoutMs: 15_000, intervalMs: 100, what: "binding expiry",
    });
    const res = await alice.request(messageText(alice, "alice", bobUser, "late"), edge(), 10_000);
    expect(sipStatus(res)).toBe(480);
  });
});

describe("MESSAGE to a TCP callee that disconnected", () => {
  it("RFC 5626 §5.3 / DESIGN §3: fails fast with 480 (flow-failed), not after Timer F", async () => {
    await using bob = await TestUa.create({ transport: "tcp" });
    await using alice = await TestUa.create({ transport: "udp" });
    const bobUser = `tcpgone-${randomToken(3)}`;
    await register(bob, bobUser);
    // Reachable first: the MESSAGE arrives over Bob's connection.
    const first = messageText(alice, "alice", bobUser, "one");
    const p1 = alice.request(first, edge(), 10_000);
    const m1 = await bob.nextMessage(isMessage(sipHeader(first, "call-id")), 10_000);
    bob.send(answer(m1, 200, "OK"), edge());
    expect(sipStatus(await p1)).toBe(200);

    await bob.dropConnection(edge());
    // Well under Timer F (64*T1 = 32 s): the request timeout below is the assertion.
    const res = await alice.request(messageText(alice, "alice", bobUser, "two"), edge(), 8000);
    expect(sipStatus(res)).toBe(480);
    const view = await aorView(bobUser);
    expect(view.bindings).toHaveLength(1);
    expect(view.bindings[0]!.reachable).toBe(false);
    expect(view.bindings[0]!.reason).toMatch(/flow-failed/);
  });
});
