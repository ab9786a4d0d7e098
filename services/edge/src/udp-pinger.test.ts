import { describe, expect, it } from "vitest";
import { parseMessage, type SipResponse } from "@edgepath/sip";
import type { FlowDescriptor } from "@edgepath/flow-token";
import { PING_BRANCH_PREFIX, UdpPinger } from "./udp-pinger.js";
import { request } from "./test-support.js";

const FLOW: FlowDescriptor = { transport: "udp", localAddress: "203.0.113.1", localPort: 5060, remoteAddress: "192.0.2.10", remotePort: 5062, connectionId: 0 };
const TOKEN = "tok-1";
const AOR = "sip:alice@example.com";
const CONTACT = "sip:alice@192.0.2.10:5062;transport=udp";

function response(text: string): SipResponse {
  const r = parseMessage(Buffer.from(text));
  if (!r.ok || r.message.kind !== "response") throw new Error("bad test response");
  return r.message;
}

function registerOk(contacts: readonly string[], o: { callId?: string; cseq?: number; status?: number } = {}): SipResponse {
  return response(
    [
      `SIP/2.0 ${o.status ?? 200} OK`,
      "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKua1;rport=5062",
      `From: <${AOR}>;tag=a`,
      `To: <${AOR}>;tag=r`,
      `Call-ID: ${o.callId ?? "reg-1"}`,
      `CSeq: ${o.cseq ?? 1} REGISTER`,
      ...contacts.map((c) => `Contact: ${c}`),
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
  );
}

function pingAnswer(ping: string, status = 200): SipResponse {
  const header = (name: string): string => new RegExp(`^${name}: (.*)$`, "mi").exec(ping)![1]!;
  return response(
    [`SIP/2.0 ${status} Whatever`, `Via: ${header("Via")}`, `From: ${header("From")}`, `To: ${header("To")};tag=ua`, `Call-ID: ${header("Call-ID")}`, `CSeq: ${header("CSeq")}`, "Content-Length: 0", "", ""].join("\r\n"),
  );
}

function harness(o: { maxFlows?: number } = {}) {
  let now = 1_000_000;
  const sent: { text: string; flow: FlowDescriptor }[] = [];
  const failed: { token: string; aors: readonly string[] }[] = [];
  const alive: { token: string; aors: readonly string[] }[] = [];
  const pinger = new UdpPinger({
    intervalMs: 1000,
    timeoutMs: 3000,
    now: () => now,
    ...(o.maxFlows !== undefined ? { maxFlows: o.maxFlows } : {}),
    delegate: {
      sendPing: (bytes, flow) => {
        sent.push({ text: bytes.toString(), flow });
        return true;
      },
      sentBy: () => "203.0.113.1:5060",
      flowFailed: (token, aors) => failed.push({ token, aors }),
      flowAlive: (token, aors) => alive.push({ token, aors }),
    },
  });
  const advance = (ms: number): void => {
    now += ms;
  };
  const register = (contact = CONTACT, expires = 300, callId = "reg-1", cseq = 1, token = TOKEN, flow = FLOW): void => {
    pinger.noteRegister(request({ method: "REGISTER", uri: "sip:example.com", callId, cseq, headers: [`Contact: <${contact}>`] }), AOR);
    pinger.noteRegisterResponse(registerOk([`<${contact}>;expires=${expires}`], { callId, cseq }), token, flow);
  };
  return { pinger, sent, failed, alive, advance, register };
}

describe("UdpPinger (DESIGN §3, RFC 3261 §11)", () => {
  it("a 2xx to a REGISTER over a UDP flow starts OPTIONS pings to the registered contact over that flow", () => {
    const h = harness();
    h.register();
    expect(h.pinger.size).toBe(1);
    h.pinger.tick();
    expect(h.sent).toHaveLength(1);
    const ping = h.sent[0]!;
    expect(ping.flow).toEqual(FLOW);
    expect(ping.text).toMatch(new RegExp(`^OPTIONS ${CONTACT.replace(/[.;]/g, "\\$&")} SIP/2\\.0\r\n`));
    expect(ping.text).toMatch(new RegExp(`\r\nVia: SIP/2\\.0/UDP 203\\.0\\.113\\.1:5060;branch=${PING_BRANCH_PREFIX}[0-9a-z]+;rport\r\n`));
    expect(ping.text).toContain("\r\nMax-Forwards: 70\r\n");
    expect(ping.text).toContain("\r\nCSeq: 1 OPTIONS\r\n");
    // The request is one a SIP parser accepts.
    expect(parseMessage(Buffer.from(ping.text)).ok).toBe(true);
  });

  it("nothing is tracked without a 2xx, for a query without Contact, or for a contact granted expires=0", () => {
    const h = harness();
    h.pinger.noteRegister(request({ method: "REGISTER", callId: "c1", headers: [`Contact: <${CONTACT}>`] }), AOR);
    h.pinger.noteRegisterResponse(registerOk([], { callId: "c1", status: 401 }), TOKEN, FLOW);
    h.pinger.noteRegister(request({ method: "REGISTER", callId: "c2" }), AOR);
    h.pinger.noteRegisterResponse(registerOk([`<${CONTACT}>;expires=300`], { callId: "c2" }), TOKEN, FLOW);
    h.register(CONTACT, 0, "c3");
    // A 2xx whose REGISTER the edge never saw (e.g. before a restart) is ignored.
    h.pinger.noteRegisterResponse(registerOk([`<${CONTACT}>;expires=300`], { callId: "unknown" }), TOKEN, FLOW);
    expect(h.pinger.size).toBe(0);
    h.pinger.tick();
    expect(h.sent).toEqual([]);
  });

  it("RFC 3261 §11: any answer (even 405) keeps the flow alive; silence for the timeout reports ping-timeout once", () => {
    const h = harness();
    h.register();
    for (let i = 0; i < 5; i++) {
      h.advance(1000);
      h.pinger.tick();
      expect(h.pinger.onResponse(pingAnswer(h.sent.at(-1)!.text, 405), FLOW)).toBe(true);
    }
    expect(h.failed).toEqual([]);
    // Stops answering: failed once the last answer is 3 s old, reported once, still pinged.
    for (let i = 0; i < 6; i++) {
      h.advance(1000);
      h.pinger.tick();
    }
    expect(h.failed).toEqual([{ token: TOKEN, aors: [AOR] }]);
    expect(h.pinger.stats.failed).toBe(1);
    expect(h.sent).toHaveLength(11);
  });

  it("a failed flow that answers again is reported alive with its AORs", () => {
    const h = harness();
    h.register();
    for (let i = 0; i < 4; i++) {
      h.advance(1000);
      h.pinger.tick();
    }
    expect(h.failed).toHaveLength(1);
    expect(h.pinger.onResponse(pingAnswer(h.sent.at(-1)!.text), FLOW)).toBe(true);
    expect(h.alive).toEqual([{ token: TOKEN, aors: [AOR] }]);
    // Answered again while alive: nothing more to report.
    h.advance(1000);
    h.pinger.tick();
    h.pinger.onResponse(pingAnswer(h.sent.at(-1)!.text), FLOW);
    expect(h.alive).toHaveLength(1);
  });

  it("answers to an old ping, from another address, or with a foreign branch do not count", () => {
    const h = harness();
    h.register();
    h.pinger.tick();
    const first = h.sent[0]!.text;
    h.advance(1000);
    h.pinger.tick();
    // A newer ping is out: the old branch is forgotten (consumed, but proves nothing).
    h.advance(1000);
    expect(h.pinger.onResponse(pingAnswer(first), FLOW)).toBe(true);
    // The current ping answered from somewhere else: consumed, proves nothing.
    expect(h.pinger.onResponse(pingAnswer(h.sent[1]!.text), { remoteAddress: "198.51.100.9", remotePort: 5062 })).toBe(true);
    h.advance(1000);
    h.pinger.tick();
    expect(h.failed).toHaveLength(1);
    // A response that is not a ping is not ours to consume.
    expect(h.pinger.onResponse(registerOk([]), FLOW)).toBe(false);
  });

  it("a REGISTER refresh counts as alive; expiry and Contact: * stop the pings", () => {
    const h = harness();
    h.register(CONTACT, 5);
    for (let i = 0; i < 4; i++) {
      h.advance(1000);
      h.pinger.tick();
    }
    expect(h.failed).toHaveLength(1);
    h.register(CONTACT, 3, "reg-1", 2);
    h.advance(1000);
    h.pinger.tick();
    expect(h.failed).toHaveLength(1);
    h.advance(3000);
    h.pinger.tick();
    expect(h.pinger.size).toBe(0);

    h.register(CONTACT, 300, "reg-2", 1);
    expect(h.pinger.size).toBe(1);
    h.pinger.noteRegister(request({ method: "REGISTER", callId: "reg-2", cseq: 2, headers: ["Contact: *", "Expires: 0"] }), AOR);
    h.pinger.noteRegisterResponse(registerOk([], { callId: "reg-2", cseq: 2 }), TOKEN, FLOW);
    expect(h.pinger.size).toBe(0);
  });

  it("pings the most recently registered contact; one flow carries every AOR registered over it", () => {
    const h = harness();
    h.register("sip:a@192.0.2.10:5062", 300, "r1");
    h.pinger.noteRegister(request({ method: "REGISTER", callId: "r2", headers: ["Contact: <sip:b@192.0.2.10:5062>"] }), "sip:bob@example.com");
    h.pinger.noteRegisterResponse(registerOk(["<sip:b@192.0.2.10:5062>;expires=300"], { callId: "r2" }), TOKEN, FLOW);
    expect(h.pinger.size).toBe(1);
    h.pinger.tick();
    expect(h.sent[0]!.text).toMatch(/^OPTIONS sip:b@192\.0\.2\.10:5062 SIP/);
    for (let i = 0; i < 4; i++) {
      h.advance(1000);
      h.pinger.tick();
    }
    expect(h.failed[0]!.aors).toEqual([AOR, "sip:bob@example.com"]);
  });

  it("is bounded: flows beyond maxFlows are not tracked, and counted", () => {
    const h = harness({ maxFlows: 2 });
    for (let i = 0; i < 4; i++) h.register(`sip:u${i}@192.0.2.10:${6000 + i}`, 300, `c${i}`, 1, `tok-${i}`, { ...FLOW, remotePort: 6000 + i });
    expect(h.pinger.size).toBe(2);
    expect(h.pinger.stats.untracked).toBe(2);
  });

  it("refuses a timeout not above the interval", () => {
    const delegate = { sendPing: () => true, sentBy: () => "x:1", flowFailed: () => {}, flowAlive: () => {} };
    expect(() => new UdpPinger({ intervalMs: 1000, timeoutMs: 1000, delegate })).toThrow(RangeError);
    expect(() => new UdpPinger({ intervalMs: 0, timeoutMs: 1000, delegate })).toThrow(RangeError);
  });
});
