import { describe, it, expect } from "vitest";
import { parseAuthParams, parseMessage } from "@edgepath/sip";
import type { SipRequest } from "@edgepath/sip";
import { SipAuthenticator } from "./authenticator.js";
import type { AuthDecision } from "./authenticator.js";
import { credentialFor, MemoryCredentialStore } from "./credentials.js";
import { computeDigestResponse, type DigestAlgorithm } from "./digest.js";
import { SOURCE_HEADER, SourceStamp, TrustedNetworks } from "./trusted.js";

const SECRET = "unit-test-secret-0123456789";

interface Req {
  method?: string;
  uri?: string;
  to?: string;
  from?: string;
  callId?: string;
  cseq?: number;
  extra?: string[];
}

function req(r: Req = {}): SipRequest {
  const method = r.method ?? "REGISTER";
  const text = [
    `${method} ${r.uri ?? "sip:example.com"} SIP/2.0`,
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
    `From: <${r.from ?? "sip:alice@example.com"}>;tag=1`,
    `To: <${r.to ?? "sip:alice@example.com"}>`,
    `Call-ID: ${r.callId ?? "c1"}`,
    `CSeq: ${r.cseq ?? 1} ${method}`,
    "Max-Forwards: 70",
    ...(r.extra ?? []),
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  const p = parseMessage(Buffer.from(text));
  if (!p.ok || p.message.kind !== "request") throw new Error("fixture did not parse");
  return p.message;
}

function responseOf(d: AuthDecision): { status: number; headers: (n: string) => string[] } {
  if (d.kind !== "reject") throw new Error("expected a reject");
  const p = parseMessage(d.response);
  if (!p.ok || p.message.kind !== "response") throw new Error("bad response");
  const m = p.message;
  return { status: m.status, headers: (n: string) => m.headerValues(n) };
}

function challenges(d: AuthDecision, header: string): Map<string, ReadonlyMap<string, string>> {
  const p = parseMessage(d.kind === "reject" ? d.response : Buffer.alloc(0));
  if (!p.ok) throw new Error("bad response");
  const out = new Map<string, ReadonlyMap<string, string>>();
  for (const f of p.message.fields) {
    if (f.name !== header) continue;
    const a = parseAuthParams(f.value);
    out.set(a.params.get("algorithm")!, a.params);
  }
  return out;
}

function authHeader(
  name: string,
  c: ReadonlyMap<string, string>,
  o: { user: string; password: string; method: string; uri: string; nc?: number; algorithm?: DigestAlgorithm; realm?: string },
): string {
  const algorithm = o.algorithm ?? (c.get("algorithm") as DigestAlgorithm);
  const realm = o.realm ?? c.get("realm")!;
  const nc = (o.nc ?? 1).toString(16).padStart(8, "0");
  const cnonce = "0a4f113b";
  const ha1 = credentialFor(`sip:${o.user}@${realm}`, o.password, realm).ha1[algorithm];
  const response = computeDigestResponse({ algorithm, ha1, method: o.method, uri: o.uri, nonce: c.get("nonce")!, nc, cnonce, qop: "auth" });
  return `${name}: Digest username="${o.user}", realm="${realm}", nonce="${c.get("nonce")!}", uri="${o.uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

async function setup(opts: { trusted?: string[]; ttlMs?: number; clock?: () => number; aliases?: [string, string][] } = {}) {
  const store = new MemoryCredentialStore();
  await store.put(credentialFor("sip:alice@example.com", "secret-a"));
  await store.put(credentialFor("sip:bob@example.com", "secret-b"));
  const auth = new SipAuthenticator({
    secret: SECRET,
    domains: ["example.com"],
    ...(opts.aliases !== undefined ? { domainAliases: new Map(opts.aliases) } : {}),
    credentials: store,
    nonceCounter: store,
    ...(opts.trusted !== undefined ? { trusted: new TrustedNetworks(opts.trusted) } : {}),
    ...(opts.ttlMs !== undefined ? { nonceTtlMs: opts.ttlMs } : {}),
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
  });
  return { auth, store };
}

describe("SipAuthenticator", () => {
  it("RFC 3261 §22.2 / RFC 8760 §2.4: REGISTER without credentials gets 401 with SHA-256 offered before MD5", async () => {
    const { auth } = await setup();
    const d = await auth.authorize(req());
    expect(d).toMatchObject({ kind: "reject", status: 401, why: "no-credentials" });
    const p = parseMessage(d.kind === "reject" ? d.response : Buffer.alloc(0));
    if (!p.ok) throw new Error("bad");
    const algs = p.message.fields.filter((f) => f.name === "www-authenticate").map((f) => parseAuthParams(f.value).params.get("algorithm"));
    expect(algs).toEqual(["SHA-256", "MD5"]);
    expect(challenges(d, "www-authenticate").get("MD5")!.get("realm")).toBe("example.com");
  });

  it("RFC 3261 §22.3: other requests get 407 with Proxy-Authenticate; ACK and CANCEL are never challenged", async () => {
    const { auth } = await setup();
    const d = await auth.authorize(req({ method: "MESSAGE", uri: "sip:bob@example.com", to: "sip:bob@example.com" }));
    expect(d).toMatchObject({ kind: "reject", status: 407 });
    expect(challenges(d, "proxy-authenticate").size).toBe(2);
    expect(await auth.authorize(req({ method: "ACK", uri: "sip:bob@example.com" }))).toMatchObject({ kind: "pass", why: "not-challengeable" });
    expect(await auth.authorize(req({ method: "CANCEL", uri: "sip:bob@example.com" }))).toMatchObject({ kind: "pass", why: "not-challengeable" });
  });

  for (const algorithm of ["SHA-256", "MD5"] as const) {
    it(`RFC 2617 §3.2.2 with ${algorithm}: the right password passes, a wrong one is challenged again`, async () => {
      const { auth } = await setup();
      const c = challenges(await auth.authorize(req()), "www-authenticate").get(algorithm)!;
      const ok = await auth.authorize(req({ cseq: 2, extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com" })] }));
      expect(ok).toEqual({ kind: "pass", why: "authenticated", user: "alice" });
      const bad = await auth.authorize(req({ cseq: 3, extra: [authHeader("Authorization", c, { user: "alice", password: "nope", method: "REGISTER", uri: "sip:example.com", nc: 2 })] }));
      expect(bad).toMatchObject({ kind: "reject", status: 401, why: "wrong-password" });
    });
  }

  it("EDGEPATH_DOMAIN_ALIASES: a phone registered by IP (To at an alias) is challenged in the domain's realm and owns the domain's AOR", async () => {
    const { auth } = await setup({ aliases: [["203.0.113.7", "example.com"]] });
    const byIp = { uri: "sip:203.0.113.7", to: "sip:alice@203.0.113.7", from: "sip:alice@203.0.113.7" };
    const c = challenges(await auth.authorize(req(byIp)), "www-authenticate").get("SHA-256")!;
    expect(c.get("realm")).toBe("example.com");
    const ok = await auth.authorize(req({ ...byIp, cseq: 2, extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:203.0.113.7" })] }));
    expect(ok).toEqual({ kind: "pass", why: "authenticated", user: "alice" });
    // without the alias the identity sip:alice@203.0.113.7 is no one's: refused after a right password
    const { auth: plain } = await setup();
    const c2 = challenges(await plain.authorize(req(byIp)), "www-authenticate").get("SHA-256")!;
    const refused = await plain.authorize(req({ ...byIp, cseq: 2, extra: [authHeader("Authorization", c2, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:203.0.113.7" })] }));
    expect(refused).toMatchObject({ kind: "reject", status: 403, why: "not-owner" });
  });

  it("RFC 2617 §3.2.1: the right password with an expired nonce gets stale=true", async () => {
    let now = 1_700_000_000_000;
    const { auth } = await setup({ ttlMs: 30_000, clock: () => now });
    const c = challenges(await auth.authorize(req()), "www-authenticate").get("SHA-256")!;
    now += 31_000;
    const d = await auth.authorize(req({ cseq: 2, extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com" })] }));
    expect(d).toMatchObject({ kind: "reject", status: 401, why: "stale-nonce" });
    expect(challenges(d, "www-authenticate").get("SHA-256")!.get("stale")).toBe("true");
    // a wrong password with the expired nonce is not stale: the user must be asked
    const w = await auth.authorize(req({ cseq: 3, extra: [authHeader("Authorization", c, { user: "alice", password: "x", method: "REGISTER", uri: "sip:example.com", nc: 2 })] }));
    expect(w).toMatchObject({ kind: "reject", why: "wrong-password" });
    expect(challenges(w, "www-authenticate").get("SHA-256")!.has("stale")).toBe(false);
  });

  it("RFC 2617 §3.2.2: a replayed nonce-count is refused, a higher one accepted", async () => {
    const { auth } = await setup();
    const c = challenges(await auth.authorize(req()), "www-authenticate").get("MD5")!;
    const h1 = authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com", nc: 1 });
    expect(await auth.authorize(req({ cseq: 2, extra: [h1] }))).toMatchObject({ kind: "pass" });
    expect(await auth.authorize(req({ cseq: 2, extra: [h1] }))).toMatchObject({ kind: "reject", status: 401, why: "nonce-replay" });
    const h2 = authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com", nc: 2 });
    expect(await auth.authorize(req({ cseq: 3, extra: [h2] }))).toMatchObject({ kind: "pass" });
    expect(auth.stats.replays).toBe(1);
  });

  it("RFC 3261 §10.3 step 4: an authenticated user registering someone else's AOR gets 403", async () => {
    const { auth } = await setup();
    const c = challenges(await auth.authorize(req({ to: "sip:bob@example.com" })), "www-authenticate").get("SHA-256")!;
    const d = await auth.authorize(
      req({ to: "sip:bob@example.com", cseq: 2, extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com" })] }),
    );
    expect(d).toMatchObject({ kind: "reject", status: 403, why: "not-owner", user: "alice" });
  });

  it("a request whose From is not the authenticated user's AOR gets 403", async () => {
    const { auth } = await setup();
    const m = { method: "MESSAGE", uri: "sip:bob@example.com", to: "sip:bob@example.com", from: "sip:bob@example.com" };
    const c = challenges(await auth.authorize(req(m)), "proxy-authenticate").get("SHA-256")!;
    const d = await auth.authorize(req({ ...m, cseq: 2, extra: [authHeader("Proxy-Authorization", c, { user: "alice", password: "secret-a", method: "MESSAGE", uri: "sip:bob@example.com" })] }));
    expect(d).toMatchObject({ kind: "reject", status: 403 });
  });

  it("unknown user, forged nonce, foreign realm and a digest-uri that is not the Request-URI are refused", async () => {
    const { auth } = await setup();
    const c = challenges(await auth.authorize(req()), "www-authenticate").get("SHA-256")!;
    const ghost = await auth.authorize(req({ to: "sip:carol@example.com", extra: [authHeader("Authorization", c, { user: "carol", password: "x", method: "REGISTER", uri: "sip:example.com" })] }));
    expect(ghost).toMatchObject({ kind: "reject", status: 401, why: "unknown-user" });
    const forged = new Map(c);
    forged.set("nonce", "AAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA");
    expect(await auth.authorize(req({ extra: [authHeader("Authorization", forged, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com" })] }))).toMatchObject({ why: "bad-nonce", status: 401 });
    expect(await auth.authorize(req({ extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com", realm: "evil.example" })] }))).toMatchObject({ why: "no-credentials" });
    expect(await auth.authorize(req({ extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:other.example" })] }))).toMatchObject({ status: 400, why: "uri-mismatch" });
  });

  it("DESIGN §6: a source in a trusted CIDR, stamped by the edge, skips auth; a forged stamp does not", async () => {
    const { auth } = await setup({ trusted: ["192.0.2.0/24"] });
    const stamp = new SourceStamp(SECRET);
    const m = { method: "INVITE", uri: "sip:bob@example.com", to: "sip:bob@example.com", from: "sip:trunk@carrier.example", callId: "t1", cseq: 5 };
    const good = await auth.authorize(req({ ...m, extra: [`${SOURCE_HEADER}: ${stamp.value("192.0.2.10", "t1", 5)}`] }));
    expect(good).toEqual({ kind: "pass", why: "trusted-source", source: "192.0.2.10" });
    const forged = await auth.authorize(req({ ...m, extra: [`${SOURCE_HEADER}: 192.0.2.10;sig=AAAAAAAAAAAAAAAA`] }));
    expect(forged).toMatchObject({ kind: "reject", status: 407 });
    const untrusted = await auth.authorize(req({ ...m, extra: [`${SOURCE_HEADER}: ${stamp.value("198.51.100.1", "t1", 5)}`] }));
    expect(untrusted).toMatchObject({ kind: "reject", status: 407, source: "198.51.100.1" });
  });

  it("a tel: From is challenged, and after a good login refused with 403 (nobody owns it)", async () => {
    const { auth } = await setup();
    const m = { method: "MESSAGE", uri: "sip:bob@example.com", to: "sip:bob@example.com", from: "tel:+15551234" };
    const first = await auth.authorize(req(m));
    expect(first).toMatchObject({ kind: "reject", status: 407 });
    const c = challenges(first, "proxy-authenticate").get("SHA-256")!;
    const d = await auth.authorize(req({ ...m, cseq: 2, extra: [authHeader("Proxy-Authorization", c, { user: "alice", password: "secret-a", method: "MESSAGE", uri: "sip:bob@example.com" })] }));
    expect(d).toMatchObject({ kind: "reject", status: 403, why: "not-owner" });
  });

  it("a credential store failure is a 503 with Retry-After, not a crash", async () => {
    const failing = {
      get: () => Promise.reject(new Error("down")),
      put: () => Promise.resolve(),
      remove: () => Promise.resolve(false),
      close: () => Promise.resolve(),
    };
    const auth = new SipAuthenticator({ secret: SECRET, domains: ["example.com"], credentials: failing });
    const c = challenges(await auth.authorize(req()), "www-authenticate").get("MD5")!;
    const d = await auth.authorize(req({ extra: [authHeader("Authorization", c, { user: "alice", password: "secret-a", method: "REGISTER", uri: "sip:example.com" })] }));
    expect(d).toMatchObject({ kind: "reject", status: 503, why: "store-error" });
    expect(responseOf(d).headers("retry-after")).toEqual(["5"]);
  });
});
