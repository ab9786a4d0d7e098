/**
 * Public listeners on a wildcard address (the default `0.0.0.0:5060`) with no
 * EDGEPATH_PUBLIC_ADVERTISE, over real sockets against the embedded system.
 *
 * - RFC 3261 §16.6 step 4 / §18.2.1: the edge's Record-Route and Via name an address a UA can
 *   send to. A UDP socket on a wildcard does not learn the address a datagram arrived on, so the
 *   config advertises an interface address (never 0.0.0.0); TCP uses the connection's own address.
 * - RFC 3261 §16.4: whichever address the edge wrote, the in-dialog request that comes back with
 *   it in its Route set is recognised as the edge's own and reaches the other party.
 */
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, TestUa, type TestUaTransport } from "@edgepath/testkit";
import { embeddedForFile } from "./support/embedded.js";
import { answer, inDialog, inviteText, recordRoutes, register } from "./support/ua.js";

const WAIT = 10_000;
const { sys, edge } = embeddedForFile({}, { wildcard: true });

describe("wildcard public listeners without EDGEPATH_PUBLIC_ADVERTISE", () => {
  it("the config advertises a concrete UDP address, not the wildcard", () => {
    expect(sys().config.sip.listen.every((l) => l.host === "0.0.0.0")).toBe(true);
    const udp = sys().config.sip.publicAdvertise?.find((a) => a.transport === "udp");
    // This host's first external IPv4 address (what a remote UA can send to), or 127.0.0.1 on a host without one.
    const external = Object.values(networkInterfaces()).flatMap((l) => l ?? []).find((i) => i.family === "IPv4" && !i.internal);
    expect(udp?.host).toBe(external?.address ?? "127.0.0.1");
  });

  it.each<TestUaTransport>(["udp", "tcp"])("RFC 3261 §16.4: a call over %s gets Record-Route and Via the UAs can use, and the BYE along that route arrives", async (transport) => {
    await using alice = await TestUa.create({ transport });
    await using bob = await TestUa.create({ transport });
    const bobUser = `bob-${randomToken(3)}`;
    await register(bob, edge(), bobUser);
    const callId = `${randomToken()}@wild`;
    const aliceFrom = `<sip:alice@example.com>;tag=${randomToken(4)}`;
    alice.send(
      inviteText(alice, { to: `sip:${bobUser}@example.com`, from: aliceFrom, callId: callId, contact: `<sip:alice@${alice.hostport};transport=${transport}>` }),
      edge(),
    );
    const inv = await bob.nextMessage((m) => sipMethod(m) === "INVITE" && sipHeader(m, "call-id") === callId, WAIT);
    const rr = recordRoutes(inv);
    expect(rr).toHaveLength(4); // RFC 5658 double Record-Route on each side
    for (const entry of rr) expect(entry).not.toMatch(/@0\.0\.0\.0[:;>]|<sip:0\.0\.0\.0[:;>]/);
    // The public entries name the advertised address (UDP) or the address the connection arrived on (TCP).
    const publicHost = transport === "udp" ? sys().config.sip.publicAdvertise!.find((a) => a.transport === "udp")!.host : "127.0.0.1";
    expect(rr.filter((e) => e.includes(`@${publicHost}:${sys().sipPort};`))).toHaveLength(2);
    // The edge's Via towards Bob: a sent-by Bob could answer to.
    expect(sipHeaders(inv, "via")[0]).not.toMatch(/ 0\.0\.0\.0[:;]/);
    const bobTag = randomToken(4);
    bob.send(answer(inv, 200, "OK", { toTag: bobTag, contact: `<sip:${bobUser}@${bob.hostport};transport=${transport}>` }), edge());
    const ok = await alice.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId, WAIT);
    expect(sipHeaders(ok, "record-route").join(",")).not.toContain("0.0.0.0");

    // Bob hangs up along the route set the edge gave him (the Record-Route in order, §12.1.1).
    const bobFrom = `<sip:${bobUser}@example.com>;tag=${bobTag}`;
    const done = bob.request(inDialog(bob, "BYE", { target: `sip:alice@${alice.hostport};transport=${transport}`, routeSet: rr, from: bobFrom, to: aliceFrom, callId, cseq: 2 }), edge(), WAIT);
    const bye = await alice.nextMessage((m) => sipMethod(m) === "BYE" && sipHeader(m, "call-id") === callId, WAIT);
    expect(sipHeader(bye, "cseq")).toBe("2 BYE");
    expect(sipHeaders(bye, "route")).toHaveLength(0); // every entry was the edge's own and was popped
    alice.send(answer(bye, 200, "OK"), edge());
    expect(sipStatus(await done)).toBe(200);
  });
});
