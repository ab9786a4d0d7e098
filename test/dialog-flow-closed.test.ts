/**
 * A dialog outlives the TCP connection of a peer that is not an RFC 5626 outbound client, over
 * real sockets against the embedded system (RFC 3261 §18.1.1 / §18.2.2; RFC 5626 §5.3's 430 is
 * for flows a UA keeps open itself, which a trunk or PBX does not).
 *
 * A trunk calls a phone over TCP; the trunk's connection then closes (an idle timeout, a restart).
 * The phone's BYE comes back through the edge with the edge's Record-Route entry naming that
 * closed connection: the edge opens a new connection to the trunk's Contact and the call ends
 * cleanly. Only to the address the connection came from: a Contact elsewhere still gets 430.
 */
import { describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipMethod, sipStatus, TestUa, waitFor } from "@edgepath/testkit";
import { embeddedForFile } from "./support/embedded.js";
import { answer, inDialog, inviteText, recordRoutes, register } from "./support/ua.js";

const WAIT = 10_000;
const { sys, edge } = embeddedForFile();

/** The trunk (TCP) calls a registered UDP phone; both sides are answered; returns what the phone needs to hang up. */
async function callFromTrunk(trunk: TestUa, phone: TestUa, trunkContact: string): Promise<{ routeSet: string[]; callId: string; phoneFrom: string; trunkTo: string }> {
  const user = `phone-${randomToken(3)}`;
  await register(phone, edge(), user);
  const callId = `${randomToken()}@trunk`;
  const trunkFrom = `<sip:+15551234@carrier.example>;tag=${randomToken(4)}`;
  trunk.send(
    inviteText(trunk, { to: `sip:${user}@example.com`, from: trunkFrom, callId: callId, contact: `<${trunkContact}>` }),
    edge(),
  );
  const inv = await phone.nextMessage((m) => sipMethod(m) === "INVITE" && sipHeader(m, "call-id") === callId, WAIT);
  const phoneTag = randomToken(4);
  phone.send(answer(inv, 200, "OK", { toTag: phoneTag, contact: `<sip:${user}@${phone.hostport}>` }), edge());
  await trunk.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId, WAIT);
  // The phone is the UAS: its route set is the Record-Route in order (RFC 3261 §12.1.1).
  return { routeSet: recordRoutes(inv), callId, phoneFrom: `<sip:${user}@example.com>;tag=${phoneTag}`, trunkTo: trunkFrom };
}

async function closeTrunkConnection(trunk: TestUa): Promise<void> {
  await trunk.dropConnection(edge());
  // The edge has seen the close once it reports the flow gone (DESIGN §3 flow-failed).
  await new Promise((r) => setTimeout(r, 100));
  expect(trunk.connectionPort(edge())).toBeUndefined();
}

describe("in-dialog requests towards a peer whose TCP connection closed", () => {
  it("RFC 3261 §18.2.2: the BYE reaches a trunk on a new connection to its Contact", async () => {
    await using trunk = await TestUa.create({ transport: "tcp" });
    await using phone = await TestUa.create({ transport: "udp" });
    const call = await callFromTrunk(trunk, phone, `sip:+15551234@${trunk.hostport};transport=tcp`);
    await closeTrunkConnection(trunk);

    const done = phone.request(inDialog(phone, "BYE", { target: `sip:+15551234@${trunk.hostport};transport=tcp`, routeSet: call.routeSet, from: call.phoneFrom, to: call.trunkTo, callId: call.callId, cseq: 2 }), edge(), WAIT);
    const bye = await trunk.nextMessage((m) => sipMethod(m) === "BYE" && sipHeader(m, "call-id") === call.callId, WAIT);
    expect(sipHeader(bye, "cseq")).toBe("2 BYE");
    trunk.send(answer(bye, 200, "OK"), edge());
    expect(sipStatus(await done)).toBe(200);
  });

  it("RFC 5626 §5.3: a Contact at another address than the closed connection's gets 430 Flow Failed (no connection to a host the token does not vouch for)", async () => {
    await using trunk = await TestUa.create({ transport: "tcp" });
    await using phone = await TestUa.create({ transport: "udp" });
    // A UA behind NAT: its Contact names an address the edge never saw it connect from.
    const call = await callFromTrunk(trunk, phone, "sip:nat-ua@192.0.2.9:5060;transport=tcp");
    await closeTrunkConnection(trunk);
    const res = await phone.request(inDialog(phone, "BYE", { target: "sip:nat-ua@192.0.2.9:5060;transport=tcp", routeSet: call.routeSet, from: call.phoneFrom, to: call.trunkTo, callId: call.callId, cseq: 2 }), edge(), WAIT);
    expect(sipStatus(res)).toBe(430);
    expect(res.slice(0, res.indexOf("\r\n"))).toBe("SIP/2.0 430 Flow Failed");
    await waitFor(async () => {
      const text = await (await fetch(`${sys().adminUrl}/metrics`)).text();
      return /edgepath_sip_rejections_total\{[^}]*status="430"[^}]*\} [1-9]/.test(text) ? true : undefined;
    }, { timeoutMs: WAIT, what: "a counted 430" });
  });
});
