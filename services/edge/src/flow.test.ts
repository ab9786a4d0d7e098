import { describe, expect, it } from "vitest";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { descriptorOf, flowRefOf, isSameFlow, tokenOf } from "./flow.js";
import { tcpFlow, udpFlow } from "./test-support.js";

const codec = new FlowTokenCodec("unit-test-secret-0123456789abcdef");

describe("flow tokens of flows", () => {
  it("DESIGN §2.3: the token of a flow is deterministic (Path now = flow-failed later) and decodes to the flow", () => {
    const f = tcpFlow(42);
    expect(tokenOf(codec, f)).toBe(tokenOf(codec, { ...f }));
    const d = codec.decode(tokenOf(codec, f));
    expect(d.ok).toBe(true);
    if (d.ok) expect(flowRefOf(d.flow)).toEqual(f);
  });

  it("RFC 5626 §5.2: same connection id and remote port is the same flow; a new connection is not", () => {
    const d = descriptorOf(tcpFlow(42));
    expect(isSameFlow(d, tcpFlow(42))).toBe(true);
    expect(isSameFlow(d, tcpFlow(43))).toBe(false);
    expect(isSameFlow(d, tcpFlow(42, "192.0.2.10", 40001))).toBe(false);
    expect(isSameFlow(d, { ...tcpFlow(42), transport: "tls" })).toBe(false);
  });

  it("UDP flows are the 5-tuple (remote address/port, local port)", () => {
    const d = descriptorOf(udpFlow("192.0.2.10", 5060, 5060));
    expect(isSameFlow(d, udpFlow("192.0.2.10", 5060, 5060))).toBe(true);
    expect(isSameFlow(d, udpFlow("192.0.2.10", 5062, 5060))).toBe(false);
    expect(isSameFlow(d, udpFlow("192.0.2.11", 5060, 5060))).toBe(false);
    expect(isSameFlow(d, udpFlow("192.0.2.10", 5060, 5070))).toBe(false);
  });
});
