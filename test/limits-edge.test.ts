/**
 * Edge admission limits (issue 5, DESIGN §6) through the embedded system over real UDP: the
 * per-source token bucket (503 + Retry-After, or drop), header count, Via depth and Route depth.
 * Each limit is triggered by one source while another source's normal traffic keeps working.
 * Sources are distinct loopback addresses (Linux routes all of 127/8 to lo).
 */
import { describe, it, expect, afterEach } from "vitest";
import { TestUa, randomToken, sipHeader, sipStatus, sipText, waitFor } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

const DOMAIN = "example.com";
let sys: EmbeddedSystem | undefined;
const uas: TestUa[] = [];

afterEach(async () => {
  await Promise.all(uas.splice(0).map((u) => u.close()));
  await sys?.stop();
  sys = undefined;
});

async function ua(host: string): Promise<TestUa> {
  const u = await TestUa.create({ transport: "udp", host });
  uas.push(u);
  return u;
}

function edge(): { host: string; port: number } {
  return { host: "127.0.0.1", port: sys!.sipPort };
}

/** OPTIONS to the edge itself: answered by the edge (RFC 3261 §11), so only the edge is measured. */
function options(u: TestUa, extra: string[] = [], callId = randomToken()): string {
  return sipText(`OPTIONS sip:${DOMAIN} SIP/2.0`, [
    `Via: SIP/2.0/UDP ${u.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:probe@${DOMAIN}>;tag=${randomToken(4)}`,
    `To: <sip:${DOMAIN}>`,
    `Call-ID: ${callId}`,
    "CSeq: 1 OPTIONS",
    ...extra,
  ]);
}

function register(u: TestUa, user: string): string {
  return sipText(`REGISTER sip:${DOMAIN} SIP/2.0`, [
    `Via: SIP/2.0/UDP ${u.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:${user}@${DOMAIN}>;tag=${randomToken(4)}`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: ${randomToken()}`,
    "CSeq: 1 REGISTER",
    `Contact: <sip:${user}@${u.hostport}>`,
    "Expires: 600",
  ]);
}

async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${sys!.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name) && line.includes(label)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

describe("per-source rate limit (token bucket) at the edge", () => {
  it("RFC 3261 §21.5.4: a source over its rate gets 503 with Retry-After while another source is served", async () => {
    sys = await startEmbedded({ EDGEPATH_RATE_LIMIT: "1", EDGEPATH_RATE_BURST: "3" });
    const flood = await ua("127.0.0.3");
    const normal = await ua("127.0.0.1");
    const N = 20;
    const ids = Array.from({ length: N }, () => randomToken());
    for (const id of ids) flood.send(options(flood, [], id), edge());
    const answers = await Promise.all(ids.map((id) => flood.nextMessage((m) => sipHeader(m, "call-id") === id, 10_000)));
    const refused = answers.filter((m) => sipStatus(m) === 503);
    const served = answers.filter((m) => sipStatus(m) === 200);
    expect(served.length + refused.length).toBe(N);
    expect(refused.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThan(N);
    expect(Number(sipHeader(refused[0]!, "retry-after"))).toBeGreaterThanOrEqual(1);

    // Normal traffic from another source: OPTIONS and a REGISTER through to a worker.
    expect(sipStatus(await normal.request(options(normal), edge()))).toBe(200);
    expect(sipStatus(await normal.request(register(normal, "dave"), edge()))).toBe(200);
    expect(await metric("edgepath_sip_rejections_total", 'reason="rate-limit"')).toBe(refused.length);
  });

  it("EDGEPATH_RATE_LIMIT_ACTION=drop: requests over the rate get no answer and are counted as drops", async () => {
    sys = await startEmbedded({ EDGEPATH_RATE_LIMIT: "1", EDGEPATH_RATE_BURST: "2", EDGEPATH_RATE_LIMIT_ACTION: "drop" });
    const flood = await ua("127.0.0.4");
    const normal = await ua("127.0.0.1");
    const N = 15;
    for (let i = 0; i < N; i++) flood.send(options(flood), edge());
    // Everything the edge will do with the flood is done once the drops are counted.
    await waitFor(async () => ((await metric("edgepath_sip_drops_total", 'reason="rate-limit"')) + flood.received.length >= N ? true : undefined), {
      timeoutMs: 10_000,
      what: "every flooded OPTIONS answered or counted as dropped",
    });
    const dropped = await metric("edgepath_sip_drops_total", 'reason="rate-limit"');
    expect(dropped).toBeGreaterThan(0);
    expect(flood.received.every((m) => sipStatus(m) === 200)).toBe(true);
    expect(flood.received.length).toBe(N - dropped);
    expect(sipStatus(await normal.request(options(normal), edge()))).toBe(200);
  });
});

describe("message shape limits at the edge (DESIGN §6)", () => {
  it("too many header lines: 400 Too Many Headers; a normal request from another source still gets 200", async () => {
    sys = await startEmbedded({ EDGEPATH_MAX_HEADERS: "32" });
    const bad = await ua("127.0.0.5");
    const normal = await ua("127.0.0.1");
    const pad = Array.from({ length: 40 }, (_, i) => `X-Pad-${i}: ${i}`);
    const res = await bad.request(options(bad, pad), edge());
    expect(sipStatus(res)).toBe(400);
    expect(res).toMatch(/^SIP\/2\.0 400 Too Many Headers/);
    expect(sipStatus(await normal.request(options(normal), edge()))).toBe(200);
    expect(sipStatus(await normal.request(register(normal, "erin"), edge()))).toBe(200);
  });

  it("RFC 3261 §21.4.20: Via depth over the limit gets 483, counting comma-separated Via values", async () => {
    sys = await startEmbedded({ EDGEPATH_MAX_VIA: "4" });
    const bad = await ua("127.0.0.6");
    const normal = await ua("127.0.0.1");
    const hops = ["Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKa2", "Via: SIP/2.0/UDP 192.0.2.3;branch=z9hG4bKa3, SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa4"];
    const res = await bad.request(options(bad, hops), edge());
    expect(sipStatus(res)).toBe(483);
    // three Vias in all is within the limit
    expect(sipStatus(await bad.request(options(bad, hops.slice(0, 1)), edge()))).toBe(200);
    expect(sipStatus(await normal.request(register(normal, "frank"), edge()))).toBe(200);
  });

  it("Route depth over the limit gets 400 Too Many Route Entries", async () => {
    sys = await startEmbedded({ EDGEPATH_MAX_ROUTE: "2" });
    const bad = await ua("127.0.0.7");
    const normal = await ua("127.0.0.1");
    const routes = ["Route: <sip:192.0.2.10;lr>, <sip:192.0.2.11;lr>", "Route: <sip:192.0.2.12;lr>"];
    const res = await bad.request(options(bad, routes), edge());
    expect(res).toMatch(/^SIP\/2\.0 400 Too Many Route Entries/);
    expect(await metric("edgepath_sip_rejections_total", 'reason="route-depth"')).toBe(1);
    expect(sipStatus(await normal.request(options(normal), edge()))).toBe(200);
  });
});
