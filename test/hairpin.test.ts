/**
 * Hairpin on one flow, over real sockets against the embedded system: two AORs registered over
 * the same flow (a PBX, a multi-line phone) call each other. The INVITE goes out and comes back
 * over that flow; so must every in-dialog request, whose Route set is the edge's double
 * Record-Route with both sides' flow tokens naming that one flow (RFC 5658, RFC 3261 §16.12).
 */
import { describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipMethod, sipStatus, TestUa, type TestUaTransport } from "@edgepath/testkit";
import { embeddedForFile } from "./support/embedded.js";
import { answer, inDialog, inviteText, recordRoutes, register } from "./support/ua.js";

const WAIT = 10_000;
const { edge } = embeddedForFile();

describe.each<TestUaTransport>(["udp", "tcp"])("two AORs behind one %s flow calling each other", (transport) => {
  it("RFC 5658 / RFC 3261 §16.12: the INVITE, its 200, and the BYE from either side all hairpin over the flow", async () => {
    await using pbx = await TestUa.create({ transport });
    const a = `pbx-a-${randomToken(3)}`;
    const b = `pbx-b-${randomToken(3)}`;
    await register(pbx, edge(), a);
    await register(pbx, edge(), b);
    const contactA = `sip:${a}@${pbx.hostport};transport=${transport}`;
    const contactB = `sip:${b}@${pbx.hostport};transport=${transport}`;

    const callId = `${randomToken()}@hairpin`;
    const fromA = `<sip:${a}@example.com>;tag=${randomToken(4)}`;
    pbx.send(inviteText(pbx, { to: `sip:${b}@example.com`, from: fromA, callId, contact: `<${contactA}>` }), edge());
    const inv = await pbx.nextMessage((m) => sipMethod(m) === "INVITE" && sipHeader(m, "call-id") === callId, WAIT);
    expect(inv.split("\r\n", 1)[0]).toBe(`INVITE ${contactB} SIP/2.0`);
    const rr = recordRoutes(inv);
    expect(rr).toHaveLength(4);
    const tagB = randomToken(4);
    pbx.send(answer(inv, 200, "OK", { toTag: tagB, contact: `<${contactB}>` }), edge());
    await pbx.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId && sipHeader(m, "cseq") === "1 INVITE", WAIT);
    const toB = `<sip:${b}@example.com>;tag=${tagB}`;

    // A's ACK and BYE: route set = the Record-Route reversed (RFC 3261 §12.1.2), target = B's Contact.
    const uacRoutes = [...rr].reverse();
    pbx.send(inDialog(pbx, "ACK", { target: contactB, routeSet: uacRoutes, from: fromA, to: toB, callId, cseq: 1 }), edge());
    const ack = await pbx.nextMessage((m) => sipMethod(m) === "ACK" && sipHeader(m, "call-id") === callId, WAIT);
    expect(ack.split("\r\n", 1)[0]).toBe(`ACK ${contactB} SIP/2.0`);

    // B hangs up: route set = the Record-Route in order (§12.1.1), target = A's Contact.
    const done = pbx.request(inDialog(pbx, "BYE", { target: contactA, routeSet: rr, from: toB, to: fromA, callId, cseq: 7 }), edge(), WAIT);
    const bye = await pbx.nextMessage((m) => sipMethod(m) === "BYE" && sipHeader(m, "call-id") === callId, WAIT);
    expect(bye.split("\r\n", 1)[0]).toBe(`BYE ${contactA} SIP/2.0`);
    expect(sipHeader(bye, "cseq")).toBe("7 BYE");
    pbx.send(answer(bye, 200, "OK"), edge());
    expect(sipStatus(await done)).toBe(200);
  });
});
