import { describe, expect, it } from "vitest";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { OwnAddresses } from "./addresses.js";
import { descriptorOf } from "./flow.js";
import { decideRoute } from "./loose-route.js";
import { checkRouteTrust, type RouteTrust, type RouteTrustContext } from "./route-trust.js";
import { request, tcpFlow, udpFlow } from "./test-support.js";

const codec = new FlowTokenCodec("unit-test-secret-0123456789abcdef");
const own = new OwnAddresses();
own.add("203.0.113.1", 5060); // public listener
own.add("10.0.0.5", 5070); // internal socket

const WORKER = "10.0.1.7:5070";
const OTHER_EDGE = "10.0.0.6:5070";
const ctx: RouteTrustContext = {
  codec,
  isWorker: (h, p) => `${h}:${p}` === WORKER,
  isInternal: (h, p) => [WORKER, OTHER_EDGE, "10.0.0.5:5070"].includes(`${h}:${p}`),
};

const caller = udpFlow("192.0.2.10", 5062); // the UA sending the in-dialog request
const callerToken = codec.encode(descriptorOf(caller));
const callee = tcpFlow(7, "192.0.2.50", 41000);
const calleeToken = codec.encode(descriptorOf(callee));
const forged = `${calleeToken.slice(0, -4)}AAAA`;

/** decideRoute then the trust check, as the edge runs them for a request from the public side. */
function judge(routes: readonly string[]): RouteTrust | { readonly kind: "reject-by-decideRoute" } {
  const req = request({ toTag: "t", headers: routes.map((r) => `Route: ${r}`) });
  const d = decideRoute(req, own, codec, caller);
  if (d.kind === "reject") return { kind: "reject-by-decideRoute" };
  return checkRouteTrust(req.routes(), d.pop, d.kind === "next-hop", ctx);
}

describe("checkRouteTrust (DESIGN §6 trust boundary)", () => {
  it("a Route naming a worker's internal socket is refused, wherever it sits", () => {
    expect(judge([`<sip:${WORKER};lr>`])).toEqual({ ok: false, status: 403, reason: "Forbidden Route", why: "route-to-worker" });
    expect(judge([`<sip:${callerToken}@203.0.113.1:5060;lr>`, `<sip:10.0.0.5:5070;lr>`, `<sip:${WORKER};lr>`])).toMatchObject({ ok: false, why: "route-to-worker" });
    expect(judge([`<sip:198.51.100.7;maddr=10.0.1.7;lr>`.replace("198.51.100.7", "198.51.100.7:5070")])).toMatchObject({ ok: false, why: "route-to-worker" });
  });

  it("our own internal entry without a token among what we pop is refused", () => {
    expect(judge(["<sip:10.0.0.5:5070;lr>"])).toEqual({ ok: false, status: 403, reason: "Forbidden Route", why: "route-internal" });
    expect(judge(["<sip:203.0.113.1:5060;lr>", "<sip:10.0.0.5:5070;lr>"])).toMatchObject({ ok: false, why: "route-internal" });
  });

  it("RFC 5658: our double Record-Route reversed (public entry with a token + internal entry) is accepted", () => {
    expect(judge([`<sip:${callerToken}@203.0.113.1:5060;lr>`, "<sip:10.0.0.5:5070;lr>", "<sip:10.0.0.5:5070;lr>", `<sip:${calleeToken}@203.0.113.1:5060;transport=tcp;lr>`])).toEqual({
      ok: true,
      internalHopAllowed: false,
    });
    // Our Path-style URI with a valid token at the internal address is ours too.
    expect(judge([`<sip:${calleeToken}@10.0.0.5:5070;lr>`])).toEqual({ ok: true, internalHopAllowed: false });
  });

  it("a forged token is refused before the trust check (RFC 5626 §5.3)", () => {
    expect(judge([`<sip:${forged}@10.0.0.5:5070;lr>`])).toEqual({ kind: "reject-by-decideRoute" });
  });

  it("another edge's internal socket as next hop needs that edge's token-bearing entry right after it", () => {
    // Cross-edge dialog: our entries, then edge B's internal entry and its public entry with its UA's token.
    expect(judge([`<sip:${callerToken}@203.0.113.1:5060;lr>`, "<sip:10.0.0.5:5070;lr>", `<sip:${OTHER_EDGE};lr>`, `<sip:${calleeToken}@198.51.100.20:5060;lr>`])).toEqual({
      ok: true,
      internalHopAllowed: true,
    });
    // A stranger's set: straight to the other edge's internal socket (it would relay on the Request-URI).
    expect(judge([`<sip:${OTHER_EDGE};lr>`])).toEqual({ ok: false, status: 403, reason: "Forbidden Route", why: "route-internal" });
    // ...also behind a token of its own flow, or with a forged token after it.
    expect(judge([`<sip:${callerToken}@203.0.113.1:5060;lr>`, `<sip:${OTHER_EDGE};lr>`])).toMatchObject({ ok: false, why: "route-internal" });
    expect(judge([`<sip:${OTHER_EDGE};lr>`, `<sip:${forged}@198.51.100.20:5060;lr>`])).toMatchObject({ ok: false, why: "route-internal" });
  });

  it("a public next hop (a trunk) is not affected", () => {
    expect(judge([`<sip:${callerToken}@203.0.113.1:5060;lr>`, "<sip:198.51.100.77;lr>"])).toEqual({ ok: true, internalHopAllowed: false });
    expect(judge(["<sip:198.51.100.77;lr>"])).toEqual({ ok: true, internalHopAllowed: false });
  });
});
