/**
 * Tracing across our hops (DESIGN §5, issue 6) on the embedded system in this process: the
 * OpenTelemetry SDK is set up with `startTelemetry` exactly as `edgepath` does at start, and
 * exports OTLP/HTTP JSON to an in-test receiver. Edge and workers talk over real UDP sockets,
 * so the trace only connects if the internal `X-Edgepath-Trace` header carries it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, TestUa, waitFor } from "@edgepath/testkit";
import { startTelemetry, TRACE_HEADER, tracingEnabled, type Telemetry } from "@edgepath/telemetry";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { spansOfCall, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.js";

const SERVER = 2;
const CLIENT = 3;

let receiver: OtlpReceiver;
let telemetry: Telemetry;
let sys: EmbeddedSystem;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  telemetry = await startTelemetry({
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: "edgepath-e2e" },
    serviceName: "edgepath-all",
  });
  sys = await startEmbedded();
});
afterAll(async () => {
  await sys?.stop();
  await telemetry?.shutdown();
  await receiver?.close();
});

const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

function registerText(ua: TestUa, user: string, callId: string, extra: readonly string[] = []): string {
  return sipText(`REGISTER sip:example.com SIP/2.0`, [
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 REGISTER",
    `Contact: <sip:${user}@${ua.hostport}>`,
    "Expires: 300",
    "Supported: path, outbound",
    ...extra,
  ]);
}

function messageText(from: TestUa, fromUser: string, toUser: string, callId: string, extra: readonly string[] = []): string {
  return sipText(
    `MESSAGE sip:${toUser}@example.com SIP/2.0`,
    [
      `Via: SIP/2.0/UDP ${from.hostport};branch=z9hG4bK${randomToken()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${fromUser}@example.com>;tag=${randomToken(4)}`,
      `To: <sip:${toUser}@example.com>`,
      `Call-ID: ${callId}`,
      "CSeq: 1 MESSAGE",
      "Content-Type: text/plain",
      ...extra,
    ],
    "hello",
  );
}

/** A UAS 200 for `request` (RFC 3261 §8.2.6.2: Via, From, To + tag, Call-ID, CSeq copied). */
function okFor(request: string, extra: readonly string[] = []): string {
  return sipText("SIP/2.0 200 OK", [
    ...sipHeaders(request, "via").map((v) => `Via: ${v}`),
    `From: ${sipHeader(request, "from") ?? ""}`,
    `To: ${sipHeader(request, "to") ?? ""};tag=${randomToken(4)}`,
    `Call-ID: ${sipHeader(request, "call-id") ?? ""}`,
    `CSeq: ${sipHeader(request, "cseq") ?? ""}`,
    ...extra,
  ]);
}

/** Flushes the SDK until `pick` finds what it wants in the received spans. */
async function spansFor<T>(what: string, pick: (spans: readonly ReceivedSpan[]) => T | undefined): Promise<T> {
  return waitFor(
    async () => {
      await telemetry.forceFlush();
      return pick(receiver.spans);
    },
    { timeoutMs: 20_000, intervalMs: 100, what },
  );
}

function one(spans: readonly ReceivedSpan[], name: string, parentSpanId?: string): ReceivedSpan | undefined {
  return spans.find((s) => s.name === name && (parentSpanId === undefined || s.parentSpanId === parentSpanId));
}

/** Registers `user` from `ua` and answers 200 (precondition of the MESSAGE tests). */
async function register(ua: TestUa, user: string): Promise<void> {
  const res = await ua.request(registerText(ua, user, `${randomToken()}@reg`), edge(), 10_000);
  expect(sipStatus(res)).toBe(200);
}

/** Alice sends a MESSAGE to Bob; Bob answers 200 (with `bobExtra` headers). Returns what Bob got and Alice's final. */
async function messageExchange(aliceExtra: readonly string[], bobExtra: readonly string[] = []): Promise<{ callId: string; atBob: string; final: string; alice: TestUa; bob: TestUa }> {
  const alice = await TestUa.create({ transport: "udp" });
  const bob = await TestUa.create({ transport: "udp" });
  const bobUser = `bob-${randomToken(3)}`;
  await register(bob, bobUser);
  const callId = `${randomToken()}@msg`;
  const finalP = alice.request(messageText(alice, `alice-${randomToken(3)}`, bobUser, callId, aliceExtra), edge(), 15_000);
  const atBob = await bob.nextMessage((m) => sipMethod(m) === "MESSAGE" && sipHeader(m, "call-id") === callId, 10_000);
  bob.send(okFor(atBob, bobExtra), edge());
  const final = await finalP;
  return { callId, atBob, final, alice, bob };
}

describe("tracing: one connected trace per SIP transaction (DESIGN §5)", () => {
  it("the set-up call turned tracing on from OTEL_EXPORTER_OTLP_ENDPOINT", () => {
    expect(telemetry.enabled).toBe(true);
    expect(telemetry.tracesUrl).toBe(`${receiver.endpoint}/v1/traces`);
    expect(tracingEnabled()).toBe(true);
  });

  it("REGISTER: the edge span and the worker span share one trace id; store calls are children of the worker span", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const user = `alice-${randomToken(3)}`;
    const callId = `${randomToken()}@trace-reg`;
    const res = await ua.request(registerText(ua, user, callId), edge(), 10_000);
    expect(sipStatus(res)).toBe(200);
    expect(sipHeader(res, TRACE_HEADER)).toBeUndefined();

    const { edgeSpan, workerSpan, storeSpan } = await spansFor("REGISTER spans (edge, worker, bindings.register)", (all) => {
      const call = spansOfCall(all, callId);
      const edgeSpan = one(call, "edge REGISTER");
      const workerSpan = one(call, "worker REGISTER");
      const storeSpan = workerSpan && one(all, "bindings.register", workerSpan.spanId);
      return edgeSpan && workerSpan && storeSpan ? { edgeSpan, workerSpan, storeSpan } : undefined;
    });
    // A request from the public side starts the trace at the edge.
    expect(edgeSpan.parentSpanId).toBe("");
    expect(edgeSpan.kind).toBe(SERVER);
    expect(edgeSpan.serviceName).toBe("edgepath-e2e");
    expect(edgeSpan.attributes).toMatchObject({ "sip.method": "REGISTER", "net.transport": "udp", "sip.aor": expect.stringContaining(user) as unknown });
    expect(typeof edgeSpan.attributes["edgepath.worker"]).toBe("string");
    expect(typeof edgeSpan.attributes["edgepath.flow"]).toBe("string");
    // The worker continued it: same trace, child of the edge span, across a UDP hop.
    expect(workerSpan.traceId).toBe(edgeSpan.traceId);
    expect(workerSpan.parentSpanId).toBe(edgeSpan.spanId);
    expect(workerSpan.attributes).toMatchObject({
      "sip.method": "REGISTER",
      "sip.status_code": 200,
      "sip.call_id": callId,
      "edgepath.worker": edgeSpan.attributes["edgepath.worker"],
    });
    expect(String(workerSpan.attributes["sip.aor"])).toContain(user);
    expect(storeSpan.traceId).toBe(edgeSpan.traceId);
    expect(storeSpan.kind).toBe(CLIENT);
  });

  it("MESSAGE between two UAs: edge -> worker -> branch -> edge is one trace, each hop the child of the previous", async () => {
    const { callId, atBob, final, alice, bob } = await messageExchange([]);
    try {
      expect(sipStatus(final)).toBe(200);
      // The internal header never reaches a phone (RFC 3261 §16.6 forwarding keeps unknown headers, so this is ours to strip).
      expect(sipHeader(atBob, TRACE_HEADER)).toBeUndefined();
      expect(sipHeader(final, TRACE_HEADER)).toBeUndefined();

      const s = await spansFor("MESSAGE spans (edge, worker, branch, edge)", (all) => {
        const call = spansOfCall(all, callId);
        const ingress = call.find((x) => x.name === "edge MESSAGE" && x.parentSpanId === "");
        const worker = ingress && one(call, "worker MESSAGE", ingress.spanId);
        const branch = worker && one(call, "branch MESSAGE", worker.spanId);
        const egress = branch && one(call, "edge MESSAGE", branch.spanId);
        const lookup = worker && one(all, "bindings.lookup", worker.spanId);
        return ingress && worker && branch && egress && lookup ? { ingress, worker, branch, egress, lookup } : undefined;
      });
      const traceIds = new Set([s.ingress, s.worker, s.branch, s.egress, s.lookup].map((x) => x.traceId));
      expect(traceIds.size).toBe(1);
      expect(s.worker.attributes).toMatchObject({ "sip.status_code": 200, "sip.method": "MESSAGE" });
      expect(String(s.worker.attributes["sip.aor"])).toContain("bob-");
      expect(s.branch.kind).toBe(CLIENT);
      expect(s.branch.attributes).toMatchObject({ "sip.status_code": 200, "sip.call_id": callId });
      expect(typeof s.branch.attributes["edgepath.flow"]).toBe("string");
      expect(s.egress.attributes).toMatchObject({ "sip.method": "MESSAGE", "sip.call_id": callId });
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});

describe("tracing: the internal header is never trusted from outside (DESIGN §5)", () => {
  const fakeTrace = "0af7651916cd43dd8448eb211c80319c";
  const forged = `${TRACE_HEADER}: 00-${fakeTrace}-b7ad6b7169203331-01`;

  it("a REGISTER carrying X-Edgepath-Trace starts a new trace at the edge; the worker follows the edge, not the forged parent", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const user = `mallory-${randomToken(3)}`;
    const callId = `${randomToken()}@forged-reg`;
    const res = await ua.request(registerText(ua, user, callId, [forged]), edge(), 10_000);
    expect(sipStatus(res)).toBe(200);
    const { edgeSpan, workerSpan } = await spansFor("REGISTER spans for the forged header", (all) => {
      const call = spansOfCall(all, callId);
      const edgeSpan = one(call, "edge REGISTER");
      const workerSpan = one(call, "worker REGISTER");
      return edgeSpan && workerSpan ? { edgeSpan, workerSpan } : undefined;
    });
    expect(edgeSpan.parentSpanId).toBe("");
    expect(edgeSpan.traceId).not.toBe(fakeTrace);
    expect(workerSpan.traceId).toBe(edgeSpan.traceId);
    expect(workerSpan.parentSpanId).toBe(edgeSpan.spanId);
  });

  it("a MESSAGE carrying X-Edgepath-Trace: no span joins the forged trace, and neither the callee nor the caller sees the header", async () => {
    // Bob also answers with a forged header: the edge strips it from responses coming from the public side.
    const { callId, atBob, final, alice, bob } = await messageExchange([forged], [forged]);
    try {
      expect(sipStatus(final)).toBe(200);
      expect(sipHeader(atBob, TRACE_HEADER)).toBeUndefined();
      expect(sipHeader(final, TRACE_HEADER)).toBeUndefined();
      const call = await spansFor("MESSAGE spans for the forged header", (all) => {
        const c = spansOfCall(all, callId);
        return c.some((x) => x.name === "worker MESSAGE") && c.filter((x) => x.name === "edge MESSAGE").length >= 2 ? c : undefined;
      });
      expect(call.filter((x) => x.traceId === fakeTrace)).toEqual([]);
      const ingress = call.filter((x) => x.name === "edge MESSAGE" && x.parentSpanId === "");
      expect(ingress).toHaveLength(1);
      expect(new Set(call.map((x) => x.traceId)).size).toBe(1);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  it("the receiver got only well-formed OTLP/HTTP JSON exports", () => {
    expect(receiver.rejected).toEqual([]);
    expect(receiver.spans.length).toBeGreaterThan(0);
  });
});
