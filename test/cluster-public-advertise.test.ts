/**
 * An edge behind NAT or a load balancer (EDGEPATH_PUBLIC_ADVERTISE, Kamailio's `advertise`): clients
 * must see the public address, not the pod's, in the edge's own Via sent-by (RFC 3261 §18.2.2: where
 * responses go) and in its public-side Record-Route entries (RFC 3261 §16.6 step 4: where in-dialog
 * requests go). The internal side keeps the internal address. Real UDP and TCP sockets against the
 * embedded system; the "load balancer" is the test sending to the edge's real port.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNameAddr, parseSipUri, parseVia } from "@edgepath/sip";
import { randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, TestUa, type TestUaTransport } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

const PUBLIC_HOST = "203.0.113.7";
const PUBLIC_PORT = 15060;
const WAIT = 10_000;

let sys: EmbeddedSystem;
const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

beforeAll(async () => {
  sys = await startEmbedded({ EDGEPATH_PUBLIC_ADVERTISE: `${PUBLIC_HOST}:${PUBLIC_PORT}` });
});
afterAll(async () => {
  await sys?.stop();
});

function via(ua: TestUa): string {
  return `Via: SIP/2.0/${ua.transport.toUpperCase()} ${ua.hostport};branch=z9hG4bK${randomToken()};rport`;
}

const isReq = (method: string, callId: string) => (m: string): boolean => sipMethod(m) === method && sipHeader(m, "call-id") === callId;
const isRes = (status: number, method: string, callId: string) => (m: string): boolean =>
  sipStatus(m) === status && sipHeader(m, "call-id") === callId && (sipHeader(m, "cseq") ?? "").endsWith(method);
const recordRoutes = (m: string): string[] => sipHeaders(m, "record-route").flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim()));

async function register(ua: TestUa, user: string): Promise<void> {
  const res = await ua.request(
    sipText("REGISTER sip:example.com SIP/2.0", [
      via(ua),
      "Max-Forwards: 70",
      `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
      `To: <sip:${user}@example.com>`,
      `Call-ID: ${randomToken()}@reg`,
      "CSeq: 1 REGISTER",
      `Contact: <sip:${user}@${ua.hostport};transport=${ua.transport}>`,
      "Expires: 300",
      "Supported: path",
    ]),
    edge(),
  );
  expect(sipStatus(res), res).toBe(200);
}

function response(req: string, status: number, reason: string, toTag: string, contact?: string): string {
  return sipText(`SIP/2.0 ${status} ${reason}`, [
    ...sipHeaders(req, "via").map((v) => `Via: ${v}`),
    ...(status < 300 ? sipHeaders(req, "record-route").map((r) => `Record-Route: ${r}`) : []),
    `From: ${sipHeader(req, "from")!}`,
    `To: ${sipHeader(req, "to")!};tag=${toTag}`,
    `Call-ID: ${sipHeader(req, "call-id")!}`,
    `CSeq: ${sipHeader(req, "cseq")!}`,
    ...(contact !== undefined ? [`Contact: ${contact}`] : []),
  ]);
}

describe.each<TestUaTransport>(["udp", "tcp"])("EDGEPATH_PUBLIC_ADVERTISE over %s", (transport) => {
  it("RFC 3261 §16.6 / §18.2.2: the edge's Via sent-by and public Record-Route carry the advertised address; the dialog still works", async () => {
    await using alice = await TestUa.create({ transport });
    await using bob = await TestUa.create({ transport });
    const bobUser = `bob-adv-${transport}-${randomToken(3)}`;
    await register(bob, bobUser);

    const callId = `${randomToken()}@adv`;
    const from = `<sip:alice@example.com>;tag=${randomToken(4)}`;
    alice.send(
      sipText(`INVITE sip:${bobUser}@example.com SIP/2.0`, [
        via(alice),
        "Max-Forwards: 70",
        `From: ${from}`,
        `To: <sip:${bobUser}@example.com>`,
        `Call-ID: ${callId}`,
        "CSeq: 1 INVITE",
        `Contact: <sip:alice@${alice.hostport};transport=${transport}>`,
      ]),
      edge(),
    );
    const inv = await bob.nextMessage(isReq("INVITE", callId), WAIT);

    // The top Via is the edge's public-side hop towards Bob: the advertised sent-by, not 127.0.0.1.
    const top = parseVia(sipHeaders(inv, "via")[0]!.split(/,(?=\s*SIP\/)/)[0]!);
    expect(top.host).toBe(PUBLIC_HOST);
    expect(top.port).toBe(PUBLIC_PORT);

    // Double Record-Route at each crossing (RFC 5658): public entries (first, last) advertised,
    // internal entries (the middle two) on the internal address that workers and edges use.
    const uris = recordRoutes(inv).map((r) => parseSipUri(parseNameAddr(r).uri));
    expect(uris).toHaveLength(4);
    for (const u of [uris[0]!, uris[3]!]) {
      expect(u.host).toBe(PUBLIC_HOST);
      expect(u.port).toBe(PUBLIC_PORT);
    }
    for (const u of [uris[1]!, uris[2]!]) expect(u.host).toBe("127.0.0.1");

    // Responses come back to the edge (the load balancer forwards them to its real port); the
    // edge knows the advertised Via is its own and relays the 200 to Alice.
    const bobTag = randomToken(4);
    bob.send(response(inv, 200, "OK", bobTag, `<sip:${bobUser}@${bob.hostport};transport=${transport}>`), edge());
    const ok = await alice.nextMessage(isRes(200, "INVITE", callId), WAIT);
    expect(recordRoutes(ok).map((r) => parseSipUri(parseNameAddr(r).uri).host)[3]).toBe(PUBLIC_HOST);

    // In-dialog BYE from Alice with the Route set pointing at the advertised address: the edge
    // recognises it as itself (RFC 3261 §16.4), pops it and delivers over Bob's flow.
    const routeSet = [...recordRoutes(ok)].reverse();
    const to = sipHeader(ok, "to")!;
    alice.send(
      sipText(`BYE ${parseNameAddr(sipHeader(ok, "contact")!).uri} SIP/2.0`, [
        via(alice),
        ...routeSet.map((r) => `Route: ${r}`),
        "Max-Forwards: 70",
        `From: ${from}`,
        `To: ${to}`,
        `Call-ID: ${callId}`,
        "CSeq: 2 BYE",
      ]),
      edge(),
    );
    const bye = await bob.nextMessage(isReq("BYE", callId), WAIT);
    expect(sipHeaders(bye, "route")).toEqual([]);
    bob.send(response(bye, 200, "OK", bobTag), edge());
    const byeOk = await alice.nextMessage(isRes(200, "BYE", callId), WAIT);
    expect(sipStatus(byeOk)).toBe(200);
  });
});
