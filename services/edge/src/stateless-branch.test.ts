import { describe, expect, it } from "vitest";
import { BRANCH_MAGIC_COOKIE } from "@edgepath/sip";
import { EDGE_BRANCH_PREFIX, loopHash, loopPartOf, statelessBranch } from "./stateless-branch.js";
import { request } from "./test-support.js";

const branchOf = (r: ReturnType<typeof request>, salt = "edge-1"): string => statelessBranch(r, r.topVia(), salt);

describe("statelessBranch", () => {
  it("RFC 3261 §8.1.1.7: starts with the magic cookie and our marker, and is a token", () => {
    const b = branchOf(request());
    expect(b.startsWith(BRANCH_MAGIC_COOKIE)).toBe(true);
    expect(b.startsWith(EDGE_BRANCH_PREFIX)).toBe(true);
    expect(b).toMatch(/^[A-Za-z0-9.!%*_+`'~-]+$/);
  });

  it("RFC 3261 §16.11: a retransmission gets the same branch", () => {
    expect(branchOf(request())).toBe(branchOf(request()));
  });

  it("RFC 3261 §16.11: CANCEL and a non-2xx ACK get the INVITE's branch (same top Via branch)", () => {
    const invite = branchOf(request({ method: "INVITE" }));
    expect(branchOf(request({ method: "CANCEL" }))).toBe(invite);
    expect(branchOf(request({ method: "ACK", toTag: "uas-tag" }))).toBe(invite);
  });

  it("RFC 3261 §16.11: a new transaction (new top Via branch) gets a new branch", () => {
    const a = branchOf(request({ vias: ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone"] }));
    const b = branchOf(request({ vias: ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtwo"] }));
    expect(a).not.toBe(b);
  });

  it("RFC 3261 §16.11: RFC 2543 clients (no cookie) are told apart by CSeq, Call-ID, tags, Request-URI", () => {
    const via = ["SIP/2.0/UDP 192.0.2.10:5060"];
    const base = branchOf(request({ vias: via }));
    expect(branchOf(request({ vias: via }))).toBe(base);
    expect(branchOf(request({ vias: via, cseq: 2 }))).not.toBe(base);
    expect(branchOf(request({ vias: via, callId: "other" }))).not.toBe(base);
    expect(branchOf(request({ vias: via, uri: "sip:carol@example.com" }))).not.toBe(base);
  });

  it("two edges (different salt) give different branches for the same request", () => {
    expect(branchOf(request(), "edge-1")).not.toBe(branchOf(request(), "edge-2"));
  });
});

describe("loopHash", () => {
  it("RFC 3261 §16.6 step 8: independent of the top Via (a looped request has a new one)", () => {
    const a = request({ vias: ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone"] });
    const b = request({ vias: ["SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKzzz", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone"] });
    expect(loopHash(a, "s")).toBe(loopHash(b, "s"));
  });

  it("RFC 3261 §16.6 step 8: changes with the Request-URI and the Route set (spirals are not loops)", () => {
    const base = loopHash(request(), "s");
    expect(loopHash(request({ uri: "sip:bob@192.0.2.20" }), "s")).not.toBe(base);
    expect(loopHash(request({ headers: ["Route: <sip:198.51.100.1;lr>"] }), "s")).not.toBe(base);
  });

  it("is embedded in the branch and read back by loopPartOf", () => {
    const r = request();
    expect(loopPartOf(branchOf(r))).toBe(loopHash(r, "edge-1"));
    expect(loopPartOf("z9hG4bKsomeoneelse.abc")).toBeUndefined();
    expect(loopPartOf(undefined)).toBeUndefined();
    expect(loopPartOf(`${EDGE_BRANCH_PREFIX}nodot`)).toBeUndefined();
  });
});
