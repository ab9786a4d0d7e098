import { describe, expect, it } from "vitest";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { OwnAddresses } from "./addresses.js";
import { descriptorOf } from "./flow.js";
import { decideRoute } from "./loose-route.js";
import { request, tcpFlow, udpFlow } from "./test-support.js";

const codec = new FlowTokenCodec("unit-test-secret-0123456789abcdef");
const own = new OwnAddresses();
own.add("203.0.113.1", 5060); // public listener
own.add("10.0.0.5", 5070); // internal socket

const callee = tcpFlow(7, "192.0.2.50", 41000);
const calleeToken = codec.encode(descriptorOf(callee));

describe("decideRoute", () => {
  it("RFC 3261 §16.4: no Route: route on the Request-URI", () => {
    expect(decideRoute(request(), own, codec, udpFlow())).toEqual({ kind: "request-uri", pop: 0 });
  });

  it("RFC 3261 §16.4: our own Route without a token is popped, then the Request-URI decides", () => {
    const r = request({ headers: ["Route: <sip:203.0.113.1;lr>"] });
    expect(decideRoute(r, own, codec, udpFlow())).toEqual({ kind: "request-uri", pop: 1 });
  });

  it("RFC 5626 §5.3: our Path URI with a valid token for another flow: send over that flow", () => {
    const r = request({ uri: "sip:bob@192.0.2.50:41000;transport=tcp", headers: [`Route: <sip:${calleeToken}@10.0.0.5:5070;lr;ob>`] });
    const d = decideRoute(r, own, codec, udpFlow("10.0.0.9", 5080, 5070));
    expect(d.kind).toBe("flow");
    if (d.kind === "flow") {
      expect(d.pop).toBe(1);
      expect(d.flow).toEqual(descriptorOf(callee));
      expect(d.rest).toHaveLength(0);
    }
  });

  it("RFC 5658: both sides' tokens naming the inbound flow (two AORs behind one PBX connection) send the request back over it", () => {
    const pbx = tcpFlow(9, "192.0.2.60", 42000);
    const pbxToken = codec.encode(descriptorOf(pbx));
    const r = request({
      toTag: "t",
      uri: "sip:b@192.0.2.60:5060;transport=tcp",
      headers: [`Route: <sip:${pbxToken}@203.0.113.1:5060;transport=tcp;lr>, <sip:10.0.0.5:5070;lr>, <sip:10.0.0.5:5070;lr>, <sip:${pbxToken}@203.0.113.1:5060;transport=tcp;lr>`],
    });
    expect(decideRoute(r, own, codec, pbx)).toEqual({ kind: "flow", pop: 4, flow: descriptorOf(pbx), rest: [] });
    // One entry naming the inbound flow is only the sender's own side: popped, and the Request-URI decides.
    const one = request({ toTag: "t", headers: [`Route: <sip:${pbxToken}@203.0.113.1:5060;transport=tcp;lr>, <sip:10.0.0.5:5070;lr>`] });
    expect(decideRoute(one, own, codec, pbx)).toEqual({ kind: "request-uri", pop: 2 });
  });

  it("RFC 5658: both entries of a double Record-Route are ours and popped; the token picks the flow", () => {
    const r = request({
      toTag: "t",
      headers: [`Route: <sip:10.0.0.5:5070;lr>, <sip:${calleeToken}@203.0.113.1:5060;transport=tcp;lr>`, "Route: <sip:198.51.100.77;lr>"],
    });
    const d = decideRoute(r, own, codec, udpFlow("10.0.0.9", 5080, 5070));
    expect(d.kind).toBe("flow");
    if (d.kind === "flow") {
      expect(d.pop).toBe(2);
      expect(d.rest.map((x) => x.uri)).toEqual(["sip:198.51.100.77;lr"]);
    }
  });

  it("RFC 5626 §5.3: a token naming the inbound flow itself is only popped (the UA's own side of the dialog)", () => {
    const r = request({ toTag: "t", headers: [`Route: <sip:${calleeToken}@203.0.113.1:5060;transport=tcp;lr>`] });
    expect(decideRoute(r, own, codec, callee)).toEqual({ kind: "request-uri", pop: 1 });
  });

  it("RFC 5626 §5.3: a forged token (another secret) is never followed: 403", () => {
    const forged = new FlowTokenCodec("some-other-secret-0123456789abcdef").encode(descriptorOf(callee));
    const d = decideRoute(request({ headers: [`Route: <sip:${forged}@10.0.0.5:5070;lr>`] }), own, codec, udpFlow());
    expect(d).toEqual({ kind: "reject", status: 403, reason: "Invalid Flow Token", why: "flow-token-bad-signature" });
  });

  it("RFC 5626 §5.3: a tampered token (one character changed) and junk are refused", () => {
    const i = 10;
    const tampered = calleeToken.slice(0, i) + (calleeToken[i] === "A" ? "B" : "A") + calleeToken.slice(i + 1);
    const t = decideRoute(request({ headers: [`Route: <sip:${tampered}@10.0.0.5:5070;lr>`] }), own, codec, udpFlow());
    expect(t.kind).toBe("reject");
    const j = decideRoute(request({ headers: ["Route: <sip:alice@10.0.0.5:5070;lr>"] }), own, codec, udpFlow());
    expect(j).toMatchObject({ kind: "reject", status: 403, why: "flow-token-malformed" });
  });

  it("RFC 3261 §16.12: a Route that is not ours is the next hop (maddr and default port honoured)", () => {
    const d = decideRoute(request({ toTag: "t", headers: ["Route: <sip:proxy.example.net;transport=tcp;lr>"] }), own, codec, udpFlow());
    expect(d).toMatchObject({ kind: "next-hop", pop: 0, transport: "tcp", host: "proxy.example.net", port: 5060 });
    const m = decideRoute(request({ toTag: "t", headers: ["Route: <sip:p.example.net:5080;maddr=198.51.100.3;lr>"] }), own, codec, udpFlow());
    expect(m).toMatchObject({ kind: "next-hop", host: "198.51.100.3", port: 5080, transport: "udp" });
  });

  it("RFC 3261 §19.1.2: our address on another port is not ours", () => {
    const d = decideRoute(request({ toTag: "t", headers: ["Route: <sip:203.0.113.1:5099;lr>"] }), own, codec, udpFlow());
    expect(d).toMatchObject({ kind: "next-hop", pop: 0, port: 5099 });
  });

  it("RFC 3261 §20.34: an unparsable top Route is 400 naming the header", () => {
    const d = decideRoute(request({ headers: ["Route: <http://x;lr>"] }), own, codec, udpFlow());
    expect(d).toEqual({ kind: "reject", status: 400, reason: "Bad Header: Route", why: "bad-route" });
  });
});
