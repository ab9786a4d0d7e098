/**
 * Bad input at the edge over real sockets (DESIGN §2 step 1, §6; issue 3): every malformed
 * category is answered with the right status and a reason phrase, or dropped and counted in
 * /metrics; the answer goes back to the sender (RFC 3581 over UDP, the same connection over
 * TCP), and the edge keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { randomToken, sipHeader, sipHeaders, sipStatus, sipText, TestUa, waitFor, type TestUaTransport, type UaTarget } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

const MAX_MESSAGE_BYTES = 4000;
let sys: EmbeddedSystem;

beforeAll(async () => {
  sys = await startEmbedded({ EDGEPATH_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
});
afterAll(async () => {
  await sys?.stop();
});

const edge = (): UaTarget => ({ host: "127.0.0.1", port: sys.sipPort });

/** Sum of a counter's samples whose labels include every given label. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${sys.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(line.slice(close + 1).trim());
  }
  return sum;
}

async function waitForMetric(name: string, labels: Record<string, string>, atLeast: number): Promise<number> {
  return waitFor(async () => {
    const v = await metric(name, labels);
    return v >= atLeast ? v : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50, what: `${name}${JSON.stringify(labels)} >= ${atLeast}` });
}

/**
 * A request with every mandatory header. The Via sent-by names a port nobody listens on,
 * so an answer can only arrive if the edge sends it back to where the request came from
 * (RFC 3581 rport/received on UDP; the same connection on TCP, RFC 3261 §18.2.2).
 */
function request(ua: TestUa, o: { method?: string; ruri?: string; omit?: string; extra?: readonly string[]; startLine?: string; toTag?: boolean; maxForwards?: number } = {}): string {
  const method = o.method ?? "OPTIONS";
  const headers = [
    `Via: SIP/2.0/${ua.transport.toUpperCase()} 127.0.0.1:9;branch=z9hG4bK${randomToken()};rport`,
    `Max-Forwards: ${o.maxForwards ?? 70}`,
    `From: <sip:mallory@example.com>;tag=${randomToken(4)}`,
    `To: <sip:bob@example.com>${o.toTag === true ? `;tag=${randomToken(4)}` : ""}`,
    `Call-ID: ${randomToken()}@bad`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:mallory@${ua.hostport};transport=${ua.transport}>`,
    ...(o.extra ?? []),
  ].filter((h) => o.omit === undefined || !h.toLowerCase().startsWith(`${o.omit.toLowerCase()}:`));
  return sipText(o.startLine ?? `${method} ${o.ruri ?? "sip:bob@example.com"} SIP/2.0`, headers);
}

function register(ua: TestUa, user: string): string {
  return sipText(`REGISTER sip:example.com SIP/2.0`, [
    `Via: SIP/2.0/${ua.transport.toUpperCase()} ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: ${randomToken()}@ok`,
    "CSeq: 1 REGISTER",
    `Contact: <sip:${user}@${ua.hostport};transport=${ua.transport}>`,
    "Expires: 300",
  ]);
}

/** The edge still serves: a fresh UA registers successfully. */
async function stillServing(transport: TestUaTransport): Promise<void> {
  await using ua = await TestUa.create({ transport });
  const res = await ua.request(register(ua, `probe-${randomToken(3)}`), edge(), 10_000);
  expect(sipStatus(res)).toBe(200);
}

/**
 * The flow token the edge writes into its Record-Route entry for a UDP UA's flow (signed with
 * the embedded system's cluster secret): what a UA in a dialog the edge Record-Routed holds.
 */
function ownToken(ua: TestUa): string {
  return new FlowTokenCodec(sys.config.secret).encode({
    transport: "udp", localAddress: "127.0.0.1", localPort: sys.sipPort, remoteAddress: "127.0.0.1", remotePort: ua.port, connectionId: 0,
  });
}

/** Status line of a response, e.g. "SIP/2.0 483 Too Many Hops". */
function statusLine(m: string): string {
  return m.slice(0, m.indexOf("\r\n"));
}

describe.each<TestUaTransport>(["udp", "tcp"])("requests the edge refuses, over %s", (transport) => {
  async function answer(text: string, expectStatus: number): Promise<string> {
    await using ua = await TestUa.create({ transport });
    const callId = sipHeader(text, "call-id");
    ua.send(text, edge());
    const res = await ua.nextMessage((m) => sipStatus(m) !== undefined && (callId === undefined || sipHeader(m, "call-id") === callId), 10_000);
    expect(statusLine(res)).toMatch(new RegExp(`^SIP/2\\.0 ${expectStatus} \\S.*`));
    if (transport === "tcp") {
      // Came back over our own connection: the Via port (9) is not listening.
      expect(ua.errors).toHaveLength(0);
    }
    return res;
  }

  const mk = async (o: Parameters<typeof request>[1]): Promise<string> => {
    await using ua = await TestUa.create({ transport });
    return request(ua, o);
  };

  it("RFC 3261 §16.3 step 3: Max-Forwards 0 gets 483 Too Many Hops", async () => {
    const before = await metric("edgepath_sip_rejections_total", { status: "483" });
    const res = await answer(await mk({ method: "MESSAGE", maxForwards: 0 }), 483);
    expect(statusLine(res)).toBe("SIP/2.0 483 Too Many Hops");
    // RFC 3581 §4: received and rport filled in on the Via of the response.
    const via = sipHeader(res, "via")!;
    expect(via).toMatch(/;rport=\d+/);
    expect(via).toMatch(/;received=127\.0\.0\.1/);
    expect(sipHeader(res, "to")).toMatch(/;tag=/);
    await waitForMetric("edgepath_sip_rejections_total", { status: "483", reason: "max-forwards" }, before + 1);
    await stillServing(transport);
  });

  it("RFC 3261 §16.3 step 6: an unknown Proxy-Require gets 420 with Unsupported", async () => {
    const res = await answer(await mk({ method: "MESSAGE", extra: ["Proxy-Require: path, x-frobnicate"] }), 420);
    expect(sipHeader(res, "unsupported")).toBe("x-frobnicate");
    await waitForMetric("edgepath_sip_rejections_total", { status: "420", reason: "proxy-require" }, 1);
    await stillServing(transport);
  });

  it("RFC 3261 §17.2.1: the ACK for the edge's own 420 ends at the edge (counted as a drop, not forwarded)", async () => {
    await using ua = await TestUa.create({ transport });
    const invite = request(ua, { method: "INVITE", extra: ["Proxy-Require: x-frobnicate"] });
    const callId = sipHeader(invite, "call-id")!;
    ua.send(invite, edge());
    const res = await ua.nextMessage((m) => sipStatus(m) === 420 && sipHeader(m, "call-id") === callId, 10_000);
    const dropsBefore = await metric("edgepath_sip_drops_total", { reason: "ack-for-own-answer" });
    const acksBefore = await metric("edgepath_sip_forwarded_total", { method: "ACK" });
    // §17.1.1.3: same Request-URI, Call-ID, From, top Via (branch); To from the response; CSeq number with ACK
    const ack = sipText("ACK sip:bob@example.com SIP/2.0", [
      `Via: ${sipHeader(invite, "via")!}`,
      "Max-Forwards: 70",
      `From: ${sipHeader(invite, "from")!}`,
      `To: ${sipHeader(res, "to")!}`,
      `Call-ID: ${callId}`,
      "CSeq: 1 ACK",
    ]);
    ua.send(ack, edge());
    await waitForMetric("edgepath_sip_drops_total", { reason: "ack-for-own-answer" }, dropsBefore + 1);
    expect(await metric("edgepath_sip_forwarded_total", { method: "ACK" })).toBe(acksBefore);
    await stillServing(transport);
  });

  it("RFC 3261 §21.4.17: a Request-URI scheme we do not route (http:) gets 416", async () => {
    const res = await answer(await mk({ method: "MESSAGE", ruri: "http://example.com/bob" }), 416);
    expect(statusLine(res)).toMatch(/^SIP\/2\.0 416 Unsupported URI Scheme/);
    await waitForMetric("edgepath_sip_rejections_total", { status: "416" }, 1);
    await stillServing(transport);
  });

  it("RFC 3261 §21.5.7: SIP/3.0 gets 505 Version Not Supported", async () => {
    const res = await answer(await mk({ method: "MESSAGE", startLine: "MESSAGE sip:bob@example.com SIP/3.0" }), 505);
    expect(statusLine(res)).toMatch(/^SIP\/2\.0 505 Version Not Supported/);
    await waitForMetric("edgepath_sip_rejections_total", { status: "505" }, 1);
    await stillServing(transport);
  });

  it("RFC 3261 §8.1.1: a missing Call-ID gets 400 naming the header", async () => {
    await using ua = await TestUa.create({ transport });
    const text = request(ua, { method: "MESSAGE", omit: "Call-ID" });
    const branch = /branch=([^;\r\n]+)/.exec(text)![1]!;
    ua.send(text, edge());
    const res = await ua.nextMessage((m) => sipStatus(m) !== undefined && m.includes(branch), 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 400 Missing Header: Call-ID");
    await waitForMetric("edgepath_sip_rejections_total", { status: "400", reason: "missing-header" }, 1);
    await stillServing(transport);
  });

  it("RFC 4475 §3.1.2.13 / RFC 3261 §10.3 step 6: a REGISTER whose Contact is malformed gets 400 naming Contact", async () => {
    // Contact is parsed when first read (RFC 3261 §16.3 step 1), not by the parser: the edge reads it
    // from every REGISTER (RFC 5626 §5.1 Path) and answers; nothing is bound
    await using ua = await TestUa.create({ transport });
    const text = register(ua, `badct-${randomToken(3)}`).replace(/^Contact: .*$/m, "Contact: sip:carol@example.org?Route=x,y");
    expect(text).toContain("Contact: sip:carol@example.org?Route=x,y\r\n");
    const res = await ua.request(text, edge(), 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 400 Bad Header: Contact");
    await stillServing(transport);
  });

  it("RFC 3261 §16.3 step 1: CSeq, From, To and the Request-URI are checked when the edge reads them, and a bad one is answered 400 naming it", async () => {
    // The parser leaves these to their first read (as Kamailio does); the edge reads all four from
    // every request it forwards, and its answer must not need them parsed (its To tag, the copied To)
    const cases: [RegExp, string, string][] = [
      [/^CSeq: .*$/m, "CSeq: one MESSAGE", "SIP/2.0 400 Bad Header: CSeq"],
      [/^CSeq: .*$/m, "CSeq: 1 INVITE", "SIP/2.0 400 Bad Header: CSeq"], // RFC 3261 §8.1.1.5: not the request's method
      [/^From: .*$/m, 'From: "unterminated <sip:mallory@example.com>;tag=1', "SIP/2.0 400 Bad Header: From"],
      [/^To: .*$/m, "To: <sip:bob@example.com;tag=x", "SIP/2.0 400 Bad Header: To"],
      [/^MESSAGE \S+ SIP\/2\.0$/m, "MESSAGE sip:bob@example.com?Route=%3Csip:x%3E SIP/2.0", "SIP/2.0 400 Bad Request-URI"], // RFC 4475 §3.1.2.11
    ];
    for (const [line, replacement, status] of cases) {
      await using ua = await TestUa.create({ transport });
      const text = request(ua, { method: "MESSAGE" }).replace(line, replacement);
      expect(text, replacement).toContain(`${replacement}\r\n`);
      const branch = /branch=([^;\r\n]+)/.exec(text)![1]!;
      ua.send(text, edge());
      const res = await ua.nextMessage((m) => sipStatus(m) !== undefined && m.includes(branch), 10_000);
      expect(statusLine(res), replacement).toBe(status);
      expect(sipHeader(res, "to"), replacement).toMatch(/;tag=/); // RFC 3261 §8.2.6.2, also for a To that does not parse
    }
    await stillServing(transport);
  });

  it("RFC 3261 §7.1: a malformed Request-Line gets 400 Bad Request Line", async () => {
    const res = await answer(await mk({ method: "MESSAGE", startLine: "MESSAGE  sip:bob@example.com SIP/2.0" }), 400);
    expect(statusLine(res)).toMatch(/^SIP\/2\.0 400 Bad Request Line/);
    await stillServing(transport);
  });

  it("RFC 5626 §5.3: a forged flow token in a Route naming the edge gets 403 and is never followed", async () => {
    // Signed with another secret: well-formed, fails verification.
    const forged = new FlowTokenCodec("not-the-cluster-secret-000000000000").encode({
      transport: "udp", localAddress: "127.0.0.1", localPort: sys.sipPort, remoteAddress: "127.0.0.1", remotePort: 9, connectionId: 0,
    });
    const route = `Route: <sip:${forged}@127.0.0.1:${sys.sipPort};lr>`;
    const res = await answer(await mk({ method: "MESSAGE", toTag: true, ruri: "sip:bob@127.0.0.1:9", extra: [route] }), 403);
    expect(statusLine(res)).toBe("SIP/2.0 403 Invalid Flow Token");
    await waitForMetric("edgepath_sip_rejections_total", { status: "403", reason: "flow-token-bad-signature" }, 1);
    // Garbage in the token position is refused the same way.
    const junk = await answer(await mk({ method: "MESSAGE", toTag: true, extra: [`Route: <sip:AAAAnotatoken@127.0.0.1:${sys.sipPort};lr>`] }), 403);
    expect(statusLine(junk)).toBe("SIP/2.0 403 Invalid Flow Token");
    await stillServing(transport);
  });

  it("RFC 3261 §26.3.2.1: an initial request routed through the edge to a third party is refused (no open relay)", async () => {
    const res = await answer(await mk({ method: "MESSAGE", extra: ["Route: <sip:192.0.2.1:5060;lr>"] }), 403);
    expect(statusLine(res)).toBe("SIP/2.0 403 Relaying Forbidden");
    await stillServing(transport);
  });

  it("RFC 3261 §26.3.2.1: a made-up To tag and a preloaded Route to a third party are refused (no open relay)", async () => {
    // In-dialog requests follow Route sets past the edge only when the set is one the edge
    // wrote (an entry of ours with a verified token is popped). A To tag alone is anyone's to write.
    await using third = await TestUa.create({ transport: "udp" });
    const before = await metric("edgepath_sip_rejections_total", { status: "403", reason: "relay-route" });
    const res = await answer(await mk({ method: "MESSAGE", toTag: true, ruri: `sip:bob@${third.hostport}`, extra: [`Route: <sip:${third.hostport};lr>`] }), 403);
    expect(statusLine(res)).toBe("SIP/2.0 403 Relaying Forbidden");
    // Our own entry (no token) on top changes nothing: it proves no dialog of ours.
    const own = await answer(await mk({ method: "BYE", toTag: true, extra: [`Route: <sip:127.0.0.1:${sys.sipPort};lr>`, `Route: <sip:${third.hostport};lr>`] }), 403);
    expect(statusLine(own)).toBe("SIP/2.0 403 Relaying Forbidden");
    // A verified token after the third party's entry does not vouch for that hop either.
    const afterThird = await answer(await mk({ method: "BYE", toTag: true, extra: [`Route: <sip:${third.hostport};lr>`, `Route: <sip:${ownToken(third)}@127.0.0.1:${sys.sipPort};lr>`] }), 403);
    expect(statusLine(afterThird)).toBe("SIP/2.0 403 Relaying Forbidden");
    await waitForMetric("edgepath_sip_rejections_total", { status: "403", reason: "relay-route" }, before + 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(third.received).toHaveLength(0);
    await stillServing(transport);
  });

  it("RFC 3261 §11: OPTIONS addressed to the edge itself is answered 200, even at Max-Forwards 0", async () => {
    const res = await answer(await mk({ method: "OPTIONS", ruri: `sip:127.0.0.1:${sys.sipPort}`, maxForwards: 0 }), 200);
    expect(sipHeader(res, "allow")).toContain("REGISTER");
    expect(sipHeader(res, "via")).toMatch(/;received=127\.0\.0\.1/);
    // The same keepalive sent through the edge as outbound proxy (a served domain, or its address).
    for (const route of ["Route: <sip:example.com;lr>", `Route: <sip:127.0.0.1:${sys.sipPort};lr>`]) {
      const viaProxy = await answer(await mk({ method: "OPTIONS", ruri: "sip:example.com", extra: [route] }), 200);
      expect(sipHeader(viaProxy, "allow")).toContain("REGISTER");
    }
  });
});

describe("no open relay with a token the sender holds", () => {
  it("RFC 3261 §26.3.2.1: a UA's own flow token (it gets one back in every Path and Record-Route) does not open a hop to a third party", async () => {
    await using third = await TestUa.create({ transport: "udp" });
    await using ua = await TestUa.create({ transport: "udp" });
    const before = await metric("edgepath_sip_rejections_total", { status: "403", reason: "relay-route" });
    for (const [i, next] of [`<sip:${third.hostport};lr>`, `<sip:192.0.2.1;maddr=127.0.0.1;lr>`.replace("192.0.2.1", `192.0.2.1:${third.port}`)].entries()) {
      const routes = [`Route: <sip:${ownToken(ua)}@127.0.0.1:${sys.sipPort};lr>`, `Route: ${next}`];
      const res = await ua.request(request(ua, { method: "MESSAGE", toTag: true, ruri: `sip:carol@${third.hostport}`, extra: routes }), edge(), 10_000);
      expect(statusLine(res), `next hop ${i}`).toBe("SIP/2.0 403 Relaying Forbidden");
    }
    await waitForMetric("edgepath_sip_rejections_total", { status: "403", reason: "relay-route" }, before + 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(third.received).toHaveLength(0);
  });

  it("DESIGN §6: the token in the edge's own Via on a request from a worker names the internal socket, and is refused as a Route (403 Forbidden Route)", async () => {
    await using bob = await TestUa.create({ transport: "udp" });
    await using alice = await TestUa.create({ transport: "udp" });
    await using mallory = await TestUa.create({ transport: "udp" });
    const user = `bob-ft-${randomToken(3)}`;
    expect(sipStatus(await bob.request(register(bob, user), edge(), 10_000))).toBe(200);
    alice.send(request(alice, { method: "MESSAGE", ruri: `sip:${user}@example.com` }), edge());
    const delivered = await bob.nextMessage((m) => m.startsWith("MESSAGE "), 10_000);
    // The edge's Via (on top) carries `ft`, the token of the flow the request came in on: the worker's hop.
    const ft = /;ft=([^;,\s]+)/.exec(sipHeader(delivered, "via")!)?.[1];
    expect(ft).toBeDefined();
    for (const toTag of [true, false]) {
      const res = await mallory.request(request(mallory, { method: "OPTIONS", toTag, extra: [`Route: <sip:${ft!}@127.0.0.1:${sys.sipPort};lr>`] }), edge(), 10_000);
      expect(statusLine(res)).toBe("SIP/2.0 403 Forbidden Route");
    }
  });

  it("RFC 3261 §16.7 step 3: a made-up response sent from the public side with Vias copied from a request the callee saw does not reach the caller", async () => {
    await using bob = await TestUa.create({ transport: "udp" });
    await using alice = await TestUa.create({ transport: "udp" });
    const user = `bob-forge-${randomToken(3)}`;
    expect(sipStatus(await bob.request(register(bob, user), edge(), 10_000))).toBe(200);
    const msg = request(alice, { method: "MESSAGE", ruri: `sip:${user}@example.com` });
    alice.send(msg, edge());
    const delivered = await bob.nextMessage((m) => m.startsWith("MESSAGE "), 10_000);
    // Edge (public side, to Bob), worker, edge (internal side, to the worker, ft = Alice's flow), Alice.
    const vias = sipHeaders(delivered, "via").flatMap((v) => v.split(/,(?=\s*SIP\/)/).map((x) => x.trim()));
    expect(vias).toHaveLength(4);
    const before = await metric("edgepath_sip_drops_total", { reason: "response-wrong-side" });
    const forged = sipText("SIP/2.0 486 Busy Here", [
      ...vias.slice(2).map((v) => `Via: ${v}`),
      `From: ${sipHeader(msg, "from")!}`,
      `To: ${sipHeader(msg, "to")!};tag=forged`,
      `Call-ID: ${sipHeader(msg, "call-id")!}`,
      `CSeq: ${sipHeader(msg, "cseq")!}`,
    ]);
    bob.send(forged, edge());
    await waitForMetric("edgepath_sip_drops_total", { reason: "response-wrong-side" }, before + 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(alice.received.filter((m) => m.startsWith("SIP/2.0 486"))).toHaveLength(0);
  });

  it("DESIGN §3: requests naming a closed flow each get 430, but the workers hear that it is gone once, not once per request", async () => {
    // A TCP flow of this edge that no longer exists (a connection id never used), as an old
    // Record-Route would name it.
    const dead = new FlowTokenCodec(sys.config.secret).encode({
      transport: "tcp", localAddress: "127.0.0.1", localPort: sys.sipPort, remoteAddress: "127.0.0.1", remotePort: 40999, connectionId: 424242,
    });
    const marks = (): Promise<number> => metric("edgepath_store_operation_duration_seconds_count", { op: "markUnreachable" });
    const before = await marks();
    await using ua = await TestUa.create({ transport: "udp" });
    for (let i = 0; i < 5; i++) {
      const res = await ua.request(request(ua, { method: "BYE", toTag: true, extra: [`Route: <sip:${dead}@127.0.0.1:${sys.sipPort};transport=tcp;lr>`] }), edge(), 10_000);
      expect(statusLine(res)).toBe("SIP/2.0 430 Flow Failed");
    }
    // One event, which each of the two workers applies once.
    await waitFor(async () => ((await marks()) >= before + 1 ? true : undefined), { timeoutMs: 10_000, what: "the gone flow reported" });
    await new Promise((r) => setTimeout(r, 300));
    expect((await marks()) - before).toBeLessThanOrEqual(2);

    // A token another edge issued (its local address is not ours: replicas behind one load balancer
    // address): 430 here, but its flow may be alive there, so the workers are not told it is gone.
    const foreign = new FlowTokenCodec(sys.config.secret).encode({
      transport: "tcp", localAddress: "127.0.0.9", localPort: sys.sipPort, remoteAddress: "127.0.0.1", remotePort: 40998, connectionId: 7,
    });
    const beforeForeign = await marks();
    const res = await ua.request(request(ua, { method: "BYE", toTag: true, extra: [`Route: <sip:${foreign}@127.0.0.1:${sys.sipPort};transport=tcp;lr>`] }), edge(), 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 430 Flow Failed");
    await new Promise((r) => setTimeout(r, 300));
    expect(await marks()).toBe(beforeForeign);
  });

  it("RFC 3261 §26.3.2.1: a new request from outside over another party's flow (a token seen in a Record-Route) is refused; an in-dialog one is delivered", async () => {
    await using trunk = await TestUa.create({ transport: "udp" });
    await using phone = await TestUa.create({ transport: "udp" });
    const route = `Route: <sip:${ownToken(trunk)}@127.0.0.1:${sys.sipPort};lr>`;
    const res = await phone.request(request(phone, { method: "INVITE", ruri: "sip:+19005550100@carrier.example", extra: [route] }), edge(), 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 403 Relaying Forbidden");
    await waitForMetric("edgepath_sip_rejections_total", { status: "403", reason: "relay-flow" }, 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(trunk.received).toHaveLength(0);
    // Within a dialog (To tag) the edge follows its Record-Route over that flow, as for any call.
    phone.send(request(phone, { method: "BYE", toTag: true, ruri: `sip:x@${trunk.hostport}`, extra: [route] }), edge());
    expect(await trunk.nextMessage((m) => m.startsWith("BYE "), 10_000)).toContain("BYE ");
  });

  it("DESIGN §6: a host name that resolves to a worker, followed by a valid token, is refused on the resolved address (403 Forbidden Route)", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const ring = (await (await fetch(`${sys.adminUrl}/v1/ring`)).json()) as { members: { sipAddress: string }[] };
    const workerPort = ring.members[0]!.sipAddress.split(":")[1]!;
    // "localhost", not the literal: the literal is refused before any lookup (route-trust.ts).
    const routes = [`Route: <sip:localhost:${workerPort};lr>`, `Route: <sip:${ownToken(ua)}@127.0.0.1:${sys.sipPort};lr>`];
    const res = await ua.request(request(ua, { method: "BYE", toTag: true, extra: routes }), edge(), 10_000);
    // 127.0.0.1 (a worker): Forbidden Route; a resolver that says ::1 first: not an edge either, Relaying Forbidden.
    expect(statusLine(res)).toMatch(/^SIP\/2\.0 403 (Forbidden Route|Relaying Forbidden)$/);
  });
});

describe("bytes the edge cannot answer are dropped and counted", () => {
  it("garbage datagrams (binary, a bad start line with no headers) are dropped and counted", async () => {
    const before = await metric("edgepath_sip_drops_total", {});
    await using ua = await TestUa.create({ transport: "udp" });
    ua.send(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xfe, 0x00, 0x41, 0x42]), edge());
    ua.send("HELLO WORLD\r\n\r\n", edge());
    ua.send("\u0000\u0001\u0002 not sip at all\r\nVia: nothing\r\n\r\n", edge());
    await waitForMetric("edgepath_sip_drops_total", {}, before + 3);
    expect(ua.received).toHaveLength(0);
    await stillServing("udp");
  });

  it("a response that is not ours is dropped and counted (RFC 3261 §16.7)", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    ua.send(
      sipText("SIP/2.0 200 OK", [
        "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKnotours",
        "From: <sip:a@example.com>;tag=1",
        "To: <sip:b@example.com>;tag=2",
        "Call-ID: stray@x",
        "CSeq: 1 OPTIONS",
      ]),
      edge(),
    );
    await waitForMetric("edgepath_sip_drops_total", { reason: "response-not-ours" }, 1);
    await stillServing("udp");
  });

  it("RFC 3261 §18.1.1: an oversize UDP datagram is dropped and counted", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const body = "x".repeat(MAX_MESSAGE_BYTES + 500);
    ua.send(request(ua, { method: "MESSAGE", extra: ["Content-Type: text/plain"] }).replace(/Content-Length: 0\r\n\r\n$/, `Content-Length: ${body.length}\r\n\r\n${body}`), edge());
    await waitForMetric("edgepath_sip_drops_total", { reason: "too-large" }, 1);
    await stillServing("udp");
  });

  it("RFC 3261 §18.3: a TCP message over the size limit closes the connection, counted", async () => {
    await using ua = await TestUa.create({ transport: "tcp" });
    const body = "x".repeat(MAX_MESSAGE_BYTES + 500);
    ua.send(request(ua, { method: "MESSAGE" }).replace(/Content-Length: 0\r\n\r\n$/, `Content-Length: ${body.length}\r\n\r\n${body}`), edge());
    await waitForMetric("edgepath_sip_drops_total", { reason: "stream-too-large" }, 1);
    await waitFor(() => (ua.connectionPort(edge()) === undefined ? true : undefined), { timeoutMs: 10_000, what: "edge to close the connection" });
    await stillServing("tcp");
  });

  it("RFC 3261 §18.3: a bad Content-Length on TCP closes the connection, counted", async () => {
    await using ua = await TestUa.create({ transport: "tcp" });
    ua.send(request(ua, { method: "MESSAGE" }).replace("Content-Length: 0", "Content-Length: 12abc"), edge());
    await waitForMetric("edgepath_sip_drops_total", { reason: "stream-bad-content-length" }, 1);
    await waitFor(() => (ua.connectionPort(edge()) === undefined ? true : undefined), { timeoutMs: 10_000, what: "edge to close the connection" });
    await stillServing("tcp");
  });
});

describe("next hops the edge cannot reach", () => {
  it("RFC 3261 §16.9 / §16.7 step 6: a next hop that does not resolve gets 500 (not 503), with received/rport", async () => {
    // The shape of a cross-edge dialog (another edge's internal socket, then its token-bearing
    // entry; DESIGN §6), with a name for that edge that does not resolve (RFC 6761 §6.4: .invalid).
    await using ua = await TestUa.create({ transport: "udp" });
    const routes = ["Route: <sip:nowhere.invalid:5070;lr>", `Route: <sip:${ownToken(ua)}@127.0.0.1:${sys.sipPort};lr>`];
    const res = await ua.request(request(ua, { method: "BYE", toTag: true, extra: routes }), edge(), 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 500 Next Hop Not Resolvable");
    const via = sipHeader(res, "via")!;
    expect(via).toMatch(/;received=127\.0\.0\.1/);
    expect(via).toMatch(/;rport=\d+/);
    await waitForMetric("edgepath_sip_drops_total", { reason: "dns" }, 1);
  });

  it("DESIGN §6: on the internal socket only a worker may have the edge route to a non-local target (403 Relaying Forbidden)", async () => {
    // A sender on the internal network that is not a registrar worker (a peer edge passing on a
    // stranger's Route set, or anything else that reaches the socket).
    await using outsider = await TestUa.create({ transport: "udp" });
    await using third = await TestUa.create({ transport: "udp", host: "127.0.0.2" });
    const [host, port] = sys.system.internal[0]!.split(":");
    const res = await outsider.request(request(outsider, { method: "MESSAGE", ruri: `sip:carol@${third.hostport}` }), { host: host!, port: Number(port) }, 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 403 Relaying Forbidden");
    await waitForMetric("edgepath_sip_rejections_total", { status: "403", reason: "relay-internal" }, 1);
    expect(third.received).toHaveLength(0);
  });
});

describe("loops", () => {
  it("RFC 3261 §16.3 step 4: a request that comes back unchanged gets 482 Loop Detected", async () => {
    // The edge sends a request over a flow of its own (the Route token names the reflector's UDP
    // flow, as in a dialog the edge Record-Routed); the reflector, a broken peer, sends it straight
    // back with the Route set it started with and its own Via on top. The edge's Via with the same
    // loop hash comes back, and the edge stops it before any routing decision.
    await using reflector = await TestUa.create({ transport: "udp" });
    await using ua = await TestUa.create({ transport: "udp" });
    const routes = [`Route: <sip:${ownToken(reflector)}@127.0.0.1:${sys.sipPort};lr>`];
    ua.send(request(ua, { method: "MESSAGE", toTag: true, ruri: `sip:bob@${reflector.hostport}`, extra: routes }), edge());
    const forwarded = await reflector.nextMessage((m) => m.startsWith("MESSAGE "), 10_000);
    const reflected = forwarded
      .replace(/^Route:[^\r]*\r\n/gim, "")
      .replace(/^(MESSAGE [^\r]+\r\n)/, `$1Via: SIP/2.0/UDP ${reflector.hostport};branch=z9hG4bK${randomToken()};rport\r\n${routes.join("\r\n")}\r\n`);
    reflector.send(reflected, edge());
    const res = await reflector.nextMessage((m) => sipStatus(m) !== undefined, 10_000);
    expect(statusLine(res)).toBe("SIP/2.0 482 Loop Detected");
    await waitForMetric("edgepath_sip_rejections_total", { status: "482", reason: "loop" }, 1);
    // No second copy was forwarded to the reflector.
    expect(reflector.received.filter((m) => m.startsWith("MESSAGE "))).toHaveLength(1);
    await stillServing("udp");
  });
});
