import { describe, it, expect } from "vitest";
import { TestUaTimeoutError, TestUa, frameStream, randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText } from "./test-ua.js";

function options(ua: TestUa, callId: string, cseq: number): string {
  return sipText("OPTIONS sip:peer@127.0.0.1 SIP/2.0", [
    `Via: SIP/2.0/${ua.transport.toUpperCase()} ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:ua@127.0.0.1>;tag=${randomToken()}`,
    "To: <sip:peer@127.0.0.1>",
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} OPTIONS`,
  ]);
}

/** Echo peer: answers every request with 100 then 200, copying Via/From/To/Call-ID/CSeq. */
async function answerOnce(peer: TestUa, to: { host: string; port: number }): Promise<string> {
  const req = await peer.nextMessage((m) => sipMethod(m) !== undefined);
  const copy = ["via", "from", "to", "call-id", "cseq"].map((h) => `${h === "call-id" ? "Call-ID" : h === "cseq" ? "CSeq" : h[0]!.toUpperCase() + h.slice(1)}: ${sipHeader(req, h)!}`);
  peer.send(sipText("SIP/2.0 100 Trying", copy), to);
  peer.send(sipText("SIP/2.0 200 OK", copy), to);
  return req;
}

describe.each(["udp", "tcp"] as const)("TestUa over %s", (transport) => {
  it("request() returns the final response matched by Call-ID and CSeq, skipping 100", async () => {
    await using a = await TestUa.create({ transport });
    await using b = await TestUa.create({ transport });
    const callId = randomToken();
    const answered = answerOnce(b, { host: "127.0.0.1", port: a.port });
    // TCP: b answers over the connection a opened (the flow), found by a's ephemeral port.
    const target = { host: "127.0.0.1", port: b.port };
    const responsePromise = a.request(options(a, callId, 7), target, 3000);
    const req = await answered;
    expect(sipMethod(req)).toBe("OPTIONS");
    const response = await responsePromise;
    expect(sipStatus(response)).toBe(200);
    expect(sipHeader(response, "call-id")).toBe(callId);
    expect(a.received.map(sipStatus)).toEqual([100, 200]);
  });

  it("nextMessage() rejects with a clear timeout error", async () => {
    await using a = await TestUa.create({ transport });
    const err: unknown = await a.nextMessage(undefined, 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestUaTimeoutError);
    expect((err as Error).message).toMatch(/within 50 ms/);
  });
});

describe("TestUa over tcp", () => {
  it("answers go back over the inbound connection (the flow), and dropConnection closes it", async () => {
    await using a = await TestUa.create({ transport: "tcp" });
    await using b = await TestUa.create({ transport: "tcp" });
    a.send(options(a, "c1", 1), { host: "127.0.0.1", port: b.port });
    const req = await b.nextMessage();
    expect(sipHeader(req, "call-id")).toBe("c1");
    const flowPort = a.connectionPort({ host: "127.0.0.1", port: b.port });
    expect(flowPort).toBeDefined();
    expect(flowPort).not.toBe(a.port);
    // b replies to the ephemeral port a connected from: that is the existing connection.
    b.send(sipText("SIP/2.0 200 OK", ["Call-ID: c1", "CSeq: 1 OPTIONS"]), { host: "127.0.0.1", port: flowPort! });
    expect(sipStatus(await a.nextMessage())).toBe(200);
    await a.dropConnection({ host: "127.0.0.1", port: b.port });
    expect(a.connectionPort({ host: "127.0.0.1", port: b.port })).toBeUndefined();
  });
});

describe("frameStream (RFC 3261 §18.3)", () => {
  it("frames by Content-Length (bytes, not characters) and keeps the remainder", () => {
    const body = "é=1\r\n"; // 6 bytes, 5 characters
    const msg = sipText("MESSAGE sip:a@b SIP/2.0", ["Call-ID: x"], body);
    const buf = Buffer.concat([Buffer.from("\r\n\r\n"), Buffer.from(msg), Buffer.from("SIP/2.0 200")]);
    const out = frameStream(buf);
    expect(out.crlfs).toBe(2);
    expect(out.message).toBe(msg);
    expect(out.rest.toString()).toBe("SIP/2.0 200");
  });

  it("waits for the whole body", () => {
    const msg = sipText("MESSAGE sip:a@b SIP/2.0", ["Call-ID: x"], "hello");
    const partial = Buffer.from(msg.slice(0, -2));
    expect(frameStream(partial).message).toBeUndefined();
    expect(frameStream(partial).rest.length).toBe(partial.length);
  });

  it("RFC 3261 §7.3.3: compact forms i and l are understood", () => {
    const msg = "SIP/2.0 200 OK\r\ni: abc\r\nv: SIP/2.0/UDP h\r\nVia: SIP/2.0/UDP g\r\nl: 0\r\n\r\n";
    expect(sipHeader(msg, "Call-ID")).toBe("abc");
    expect(sipHeaders(msg, "via")).toEqual(["SIP/2.0/UDP h", "SIP/2.0/UDP g"]);
    expect(frameStream(Buffer.from(msg)).message).toBe(msg);
  });
});
