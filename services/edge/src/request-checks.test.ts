import { describe, expect, it } from "vitest";
import { checkLoop, checkMaxForwards, checkProxyRequire } from "./request-checks.js";
import { loopHash, statelessBranch } from "./stateless-branch.js";
import { request } from "./test-support.js";

const own = (h: string, p: number): boolean => h === "203.0.113.1" && p === 5060;

describe("checkMaxForwards", () => {
  it("RFC 3261 §16.3 step 3: Max-Forwards 0 is 483 Too Many Hops", () => {
    expect(checkMaxForwards(request({ maxForwards: 0 }))).toEqual({ status: 483, reason: "Too Many Hops" });
  });

  it("RFC 3261 §16.3 step 3: Max-Forwards 1 and an absent header pass", () => {
    expect(checkMaxForwards(request({ maxForwards: 1 }))).toBeUndefined();
    expect(checkMaxForwards(request({ maxForwards: null }))).toBeUndefined();
  });
});

describe("checkProxyRequire", () => {
  it("RFC 3261 §16.3 step 6: 420 listing only the unsupported tags in Unsupported", () => {
    const r = checkProxyRequire(request({ headers: ["Proxy-Require: path, foo", "Proxy-Require: bar"] }));
    expect(r).toEqual({ status: 420, reason: "Bad Extension", headers: [["Unsupported", "foo, bar"]] });
  });

  it("RFC 3261 §20.29: tags we support (path, outbound) pass; no Proxy-Require passes", () => {
    expect(checkProxyRequire(request({ headers: ["Proxy-Require: path, outbound"] }))).toBeUndefined();
    expect(checkProxyRequire(request())).toBeUndefined();
  });

  it("RFC 3261 §8.2.2.3: Require is for the UAS, not the proxy", () => {
    expect(checkProxyRequire(request({ headers: ["Require: foo"] }))).toBeUndefined();
  });
});

describe("checkLoop", () => {
  it("RFC 3261 §16.3 step 4: our Via with the same loop hash is 482 Loop Detected", () => {
    const first = request({ uri: "sip:bob@198.51.100.9", headers: ["Route: <sip:198.51.100.9;lr>"] });
    const loop = loopHash(first, "edge-1");
    const ours = statelessBranch(first, first.topVia(), "edge-1", loop);
    // It came back through another hop that put its Via on top.
    const back = request({
      uri: "sip:bob@198.51.100.9",
      headers: ["Route: <sip:198.51.100.9;lr>"],
      vias: ["SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKother", `SIP/2.0/UDP 203.0.113.1:5060;branch=${ours}`, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123;rport"],
    });
    expect(checkLoop(back, own, loopHash(back, "edge-1"))).toEqual({ status: 482, reason: "Loop Detected" });
  });

  it("RFC 3261 §16.3 step 4: our Via with another loop hash is a spiral (Request-URI or Route changed)", () => {
    const first = request({ uri: "sip:bob@example.com" });
    const ours = statelessBranch(first, first.topVia(), "edge-1");
    const spiral = request({
      uri: "sip:bob@192.0.2.20:5060",
      headers: ["Route: <sip:tok@203.0.113.1:5060;lr>"],
      vias: ["SIP/2.0/UDP 10.0.0.9:5080;branch=z9hG4bKworker", `SIP/2.0/UDP 203.0.113.1:5060;branch=${ours}`, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123"],
    });
    expect(checkLoop(spiral, own, loopHash(spiral, "edge-1"))).toBeUndefined();
  });

  it("a matching branch under someone else's sent-by is not our loop", () => {
    const first = request();
    const loop = loopHash(first, "edge-1");
    const ours = statelessBranch(first, first.topVia(), "edge-1", loop);
    const other = request({ vias: ["SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKx", `SIP/2.0/UDP 198.51.100.7:5060;branch=${ours}`] });
    expect(checkLoop(other, own, loop)).toBeUndefined();
  });
});

