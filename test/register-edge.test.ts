/**
 * REGISTER through the edge over real UDP and TCP sockets against the embedded system
 * (one edge, two workers, memory store): RFC 3261 §10.3, RFC 3327 §5.2/§5.3 (Path),
 * RFC 5626 §5.1 (`ob`), checked from the UA's side and through the admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import { randomToken, sipHeader, sipHeaders, sipStatus, sipText, TestUa, waitFor, type TestUaTransport } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

interface AorView {
  readonly aor: string;
  readonly bindings: ReadonlyArray<{ readonly contact: string; readonly expires: number; readonly path: readonly string[] | string }>;
}

interface RegisterOpts {
  readonly user: string;
  readonly contacts?: readonly string[];
  readonly callId?: string;
  readonly cseq?: number;
  readonly expires?: number;
  readonly supportedPath?: boolean;
  readonly extra?: readonly string[];
}

function registerText(ua: TestUa, sys: EmbeddedSystem, o: RegisterOpts): string {
  const transport = ua.transport.toUpperCase();
  const headers = [
    `Via: SIP/2.0/${transport} ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:${o.user}@example.com>;tag=${randomToken(4)}`,
    `To: <sip:${o.user}@example.com>`,
    `Call-ID: ${o.callId ?? randomToken()}@test`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
    ...(o.contacts ?? [`<sip:${o.user}@${ua.hostport};transport=${ua.transport}>`]).map((c) => `Contact: ${c}`),
    ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []),
    ...(o.supportedPath === false ? [] : ["Supported: path, outbound"]),
    ...(o.extra ?? []),
  ];
  return sipText(`REGISTER sip:example.com:${sys.sipPort} SIP/2.0`, headers);
}

async function aor(sys: EmbeddedSystem, user: string): Promise<AorView> {
  const res = await fetch(`${sys.adminUrl}/v1/aors/${encodeURIComponent(`sip:${user}@example.com`)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as AorView;
}

function pathsOf(view: AorView): string[] {
  return view.bindings.flatMap((b): string[] => (typeof b.path === "string" ? [b.path] : [...b.path]));
}

/** Contact header values of a response split into entries (one per line or comma-separated). */
function contactEntries(response: string): string[] {
  return sipHeaders(response, "contact").flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim()));
}

let sys: EmbeddedSystem;
const codec = new FlowTokenCodec("e2e-test-secret-0123456789abcdef0123456789");

beforeAll(async () => {
  // A low Min-Expires so a registration can be watched expiring within the test.
  sys = await startEmbedded({ EDGEPATH_MIN_EXPIRES: "2", EDGEPATH_DEFAULT_EXPIRES: "600" });
});
afterAll(async () => {
  await sys?.stop();
});

describe.each<TestUaTransport>(["udp", "tcp"])("REGISTER through the edge over %s", (transport) => {
  const target = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

  it("RFC 3327 §5.2/§5.3: Path with a signed flow token is stored and echoed when the UA supports path", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `alice-${transport}-${randomToken(3)}`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 300 }), target());
    expect(sipStatus(res)).toBe(200);
    const path = sipHeader(res, "path");
    expect(path).toBeDefined();
    const uri = parseSipUri(parseNameAddr(path!).uri);
    expect(uri.params.has("lr")).toBe(true);
    // RFC 5626 §5.1: no reg-id in the Contact, so not an outbound registration: no ;ob.
    expect(uri.params.has("ob")).toBe(false);
    // The token names the UA's own flow as the edge saw it (RFC 5626 §5.2).
    const decoded = codec.decode(uri.user ?? "");
    expect(decoded.ok).toBe(true);
    if (decoded.ok) {
      expect(decoded.flow.transport).toBe(transport);
      expect(decoded.flow.remoteAddress).toBe("127.0.0.1");
      expect(decoded.flow.remotePort).toBe(transport === "udp" ? ua.port : ua.connectionPort(target()));
    }
    const view = await aor(sys, user);
    expect(view.bindings).toHaveLength(1);
    expect(pathsOf(view).join(",")).toContain(uri.user!);
  });

  it("RFC 3581 §4 / RFC 3261 §18.2.2: the 200 reaches a UA whose Via sent-by is unreachable (NAT), with received/rport", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `nat-${transport}-${randomToken(3)}`;
    // Port 9 (discard) stands in for the private address a UA behind NAT puts in its Via.
    const text = registerText(ua, sys, { user, expires: 300 }).replace(/Via: SIP\/2\.0\/(UDP|TCP) [^;]+;/, "Via: SIP/2.0/$1 127.0.0.1:9;");
    const res = await ua.request(text, target());
    expect(sipStatus(res)).toBe(200);
    const via = sipHeader(res, "via")!;
    expect(via).toContain("127.0.0.1:9");
    expect(via).toMatch(/;received=127\.0\.0\.1/);
    expect(via).toMatch(new RegExp(`;rport=${transport === "udp" ? ua.port : ua.connectionPort(target())}(;|$)`));
    // Only the UA's own Via comes back: the edge removed its Via (RFC 3261 §16.7 step 3).
    expect(sipHeaders(res, "via")).toHaveLength(1);
  });

  it("RFC 3327 §5.3: a UA without Supported: path gets no Path in the 200, but the binding keeps the edge's Path", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `bob-${transport}-${randomToken(3)}`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 300, supportedPath: false }), target());
    expect(sipStatus(res)).toBe(200);
    expect(sipHeader(res, "path")).toBeUndefined();
    const view = await aor(sys, user);
    expect(view.bindings).toHaveLength(1);
    expect(pathsOf(view).join(",")).toMatch(/;lr/);
  });

  it("RFC 5626 §5.1: an outbound REGISTER (+sip.instance and reg-id) gets ;ob on the edge's Path URI", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `ob-${transport}-${randomToken(3)}`;
    const contact = `<sip:${user}@${ua.hostport};transport=${transport}>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-${randomToken(6)}>";reg-id=1`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 300, contacts: [contact], extra: ["Require: outbound"] }), target());
    expect(sipStatus(res)).toBe(200);
    const uri = parseSipUri(parseNameAddr(sipHeader(res, "path")!).uri);
    expect(uri.params.has("ob")).toBe(true);
  });

  it("RFC 3261 §10.3 step 8: the 200 lists every contact with its remaining expires and carries a Date", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `multi-${transport}-${randomToken(3)}`;
    const callId = `${randomToken()}@test`;
    const c1 = `<sip:${user}@${ua.hostport};transport=${transport}>;expires=300`;
    const c2 = `<sip:${user}-2@${ua.hostport};transport=${transport}>;expires=120`;
    const res = await ua.request(registerText(ua, sys, { user, callId, cseq: 1, contacts: [c1, c2] }), target());
    expect(sipStatus(res)).toBe(200);
    const entries = contactEntries(res);
    expect(entries).toHaveLength(2);
    for (const e of entries) expect(e).toMatch(/;expires=\d+/);
    const byUser = new Map(entries.map((e) => [parseSipUri(parseNameAddr(e).uri).user, Number(/;expires=(\d+)/.exec(e)![1])]));
    expect(byUser.get(user)).toBeGreaterThan(120);
    expect(byUser.get(user)).toBeLessThanOrEqual(300);
    expect(byUser.get(`${user}-2`)).toBeLessThanOrEqual(120);
    const date = sipHeader(res, "date");
    expect(date).toMatch(/GMT$/);
    expect(Number.isNaN(Date.parse(date!))).toBe(false);

    // A query (no Contact) returns the current set too (RFC 3261 §10.2.3).
    const query = await ua.request(registerText(ua, sys, { user, callId, cseq: 2, contacts: [] }), target());
    expect(sipStatus(query)).toBe(200);
    expect(contactEntries(query)).toHaveLength(2);
    expect((await aor(sys, user)).bindings).toHaveLength(2);
  });

  it("RFC 3261 §10.2.4: a refresh (same Call-ID, higher CSeq) keeps one binding with the new expiry", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `refresh-${transport}-${randomToken(3)}`;
    const callId = `${randomToken()}@test`;
    expect(sipStatus(await ua.request(registerText(ua, sys, { user, callId, cseq: 1, expires: 100 }), target()))).toBe(200);
    const res = await ua.request(registerText(ua, sys, { user, callId, cseq: 2, expires: 500 }), target());
    expect(sipStatus(res)).toBe(200);
    const entries = contactEntries(res);
    expect(entries).toHaveLength(1);
    expect(Number(/;expires=(\d+)/.exec(entries[0]!)![1])).toBeGreaterThan(400);
    const view = await aor(sys, user);
    expect(view.bindings).toHaveLength(1);
  });

  it("RFC 3261 §10.3 step 6: a lower CSeq on the same Call-ID is rejected and changes nothing", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `cseq-${transport}-${randomToken(3)}`;
    const callId = `${randomToken()}@test`;
    expect(sipStatus(await ua.request(registerText(ua, sys, { user, callId, cseq: 5, expires: 300 }), target()))).toBe(200);
    const stale = await ua.request(registerText(ua, sys, { user, callId, cseq: 4, expires: 0 }), target());
    // "the update MUST be aborted and the request fails"; ours answers 500 with a reason.
    expect(stale).toMatch(/^SIP\/2\.0 500 Server Internal Error: Out Of Order Request\r\n/);
    expect((await aor(sys, user)).bindings).toHaveLength(1);
  });

  it("RFC 3261 §10.3 step 7: 423 Interval Too Brief carries Min-Expires", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `brief-${transport}-${randomToken(3)}`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 1 }), target());
    expect(sipStatus(res)).toBe(423);
    expect(res).toMatch(/^SIP\/2\.0 423 \S/);
    expect(sipHeader(res, "min-expires")).toBe("2");
    expect((await aor(sys, user)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.2.2: Contact: * with Expires: 0 removes every binding of the AOR", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `star-${transport}-${randomToken(3)}`;
    const callId = `${randomToken()}@test`;
    const contacts = [`<sip:${user}@${ua.hostport}>`, `<sip:${user}-b@${ua.hostport}>`];
    expect(sipStatus(await ua.request(registerText(ua, sys, { user, callId, cseq: 1, expires: 300, contacts }), target()))).toBe(200);
    expect((await aor(sys, user)).bindings).toHaveLength(2);
    const res = await ua.request(registerText(ua, sys, { user, callId, cseq: 2, expires: 0, contacts: ["*"] }), target());
    expect(sipStatus(res)).toBe(200);
    expect(contactEntries(res)).toHaveLength(0);
    expect((await aor(sys, user)).bindings).toHaveLength(0);
  });

  it("RFC 3261 §10.2.2: Contact: * without Expires: 0 is a 400", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `badstar-${transport}-${randomToken(3)}`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 300, contacts: ["*"] }), target());
    expect(sipStatus(res)).toBe(400);
  });

  it("RFC 3261 §10.2.1: a binding expires and leaves the admin view", async () => {
    await using ua = await TestUa.create({ transport });
    const user = `expiry-${transport}-${randomToken(3)}`;
    const res = await ua.request(registerText(ua, sys, { user, expires: 2 }), target());
    expect(sipStatus(res)).toBe(200);
    expect((await aor(sys, user)).bindings).toHaveLength(1);
    await waitFor(async () => ((await aor(sys, user)).bindings.length === 0 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: `binding of ${user} to expire`,
    });
    expect((await aor(sys, user)).bindings).toHaveLength(0);
  });
});
