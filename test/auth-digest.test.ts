/**
 * Digest authentication end to end through the embedded system (issue 5, DESIGN §6):
 * UA -> edge -> worker, real UDP sockets. The digest responses are computed here with
 * node:crypto, independently of @edgepath/auth, from the challenge the system sent.
 */
import { createHash } from "node:crypto";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { credentialFor, NonceCodec } from "@edgepath/auth";
import { TestUa, randomToken, sipHeader, sipHeaders, sipMethod, sipStatus } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, messageText as messageTextOf, registerText as registerTextOf } from "./support/ua.js";

const SECRET = "e2e-auth-secret-0123456789abcdef";
const DOMAIN = "example.com";
/** A second loopback address stands in for a trusted trunk (Linux routes all of 127/8 to lo). */
const TRUNK_IP = "127.0.0.2";

let sys: EmbeddedSystem;
const uas: TestUa[] = [];

beforeAll(async () => {
  sys = await startEmbedded({ EDGEPATH_AUTH: "required", EDGEPATH_SECRET: SECRET, EDGEPATH_TRUSTED_CIDRS: `${TRUNK_IP}/32` });
  const creds = sys.system.credentials!;
  await creds.put(credentialFor(`sip:alice@${DOMAIN}`, "alice-pw"));
  await creds.put(credentialFor(`sip:bob@${DOMAIN}`, "bob-pw"));
  await creds.put(credentialFor(`sip:carol@${DOMAIN}`, "carol-pw"));
}, 30_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.close()));
  await sys?.stop();
});

async function ua(host = "127.0.0.1"): Promise<TestUa> {
  const u = await TestUa.create({ transport: "udp", host });
  uas.push(u);
  return u;
}

const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

type Alg = "SHA-256" | "MD5";

function h(alg: Alg, s: string): string {
  return createHash(alg === "MD5" ? "md5" : "sha256").update(s).digest("hex");
}

/** The challenges of a 401/407, by algorithm, in the order sent. */
function challengesOf(res: string, header: string): Array<{ algorithm: string; params: Map<string, string> }> {
  return sipHeaders(res, header).map((v) => {
    const params = new Map<string, string>();
    for (const m of v.replace(/^Digest\s+/i, "").matchAll(/([A-Za-z-]+)=(?:"([^"]*)"|([^,\s]+))/g)) params.set(m[1]!.toLowerCase(), m[2] ?? m[3]!);
    return { algorithm: params.get("algorithm") ?? "MD5", params };
  });
}

function credentials(
  header: string,
  ch: Map<string, string>,
  o: { user: string; password: string; method: string; uri: string; nc?: number; alg: Alg },
): string {
  const realm = ch.get("realm")!;
  const nonce = ch.get("nonce")!;
  const nc = (o.nc ?? 1).toString(16).padStart(8, "0");
  const cnonce = randomToken(6);
  const ha1 = h(o.alg, `${o.user}:${realm}:${o.password}`);
  const ha2 = h(o.alg, `${o.method}:${o.uri}`);
  const response = h(o.alg, `${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `${header}: Digest username="${o.user}", realm="${realm}", nonce="${nonce}", uri="${o.uri}", response="${response}", algorithm=${o.alg}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

interface Dialogish {
  callId: string;
  cseq: number;
}

const registerText = (u: TestUa, aor: string, d: Dialogish, extra: string[] = []): string =>
  registerTextOf(u, aor, { callId: d.callId, cseq: d.cseq, expires: 600, extra });

const messageText = (u: TestUa, from: string, to: string, d: Dialogish, extra: string[] = []): string =>
  messageTextOf(u, from, to, "hello", { callId: d.callId, cseq: d.cseq, extra });

/** Registers `user` with digest (challenge, then credentials); returns the 200. */
async function registerWithAuth(u: TestUa, user: string, password: string, alg: Alg = "SHA-256"): Promise<string> {
  const aor = `sip:${user}@${DOMAIN}`;
  const d = { callId: randomToken(), cseq: 1 };
  const c = await u.request(registerText(u, aor, d), edge());
  expect(sipStatus(c)).toBe(401);
  const ch = challengesOf(c, "www-authenticate").find((x) => x.algorithm === alg)!;
  d.cseq++;
  return u.request(registerText(u, aor, d, [credentials("Authorization", ch.params, { user, password, method: "REGISTER", uri: `sip:${DOMAIN}`, alg })]), edge());
}

/** Answers the next MESSAGE the UA receives with 200 and returns it. */
async function answerMessage(u: TestUa): Promise<string> {
  const m = await u.nextMessage((x) => sipMethod(x) === "MESSAGE", 10_000);
  u.send(answer(m, 200, "OK"), edge());
  return m;
}

describe("digest authentication (RFC 3261 §22, RFC 8760) through the edge", () => {
  it("RFC 3261 §22.2 / RFC 8760 §2.4: REGISTER without credentials gets 401, SHA-256 offered before MD5", async () => {
    const u = await ua();
    const res = await u.request(registerText(u, `sip:alice@${DOMAIN}`, { callId: randomToken(), cseq: 1 }), edge());
    expect(sipStatus(res)).toBe(401);
    const ch = challengesOf(res, "www-authenticate");
    expect(ch.map((c) => c.algorithm)).toEqual(["SHA-256", "MD5"]);
    for (const c of ch) {
      expect(c.params.get("realm")).toBe(DOMAIN);
      expect(c.params.get("qop")).toBe("auth");
      expect(c.params.has("stale")).toBe(false);
    }
  });

  it("RFC 8760 SHA-256: the right password registers (200)", async () => {
    const u = await ua();
    const ok = await registerWithAuth(u, "alice", "alice-pw", "SHA-256");
    expect(sipStatus(ok)).toBe(200);
    expect(sipHeader(ok, "contact")).toContain(u.hostport);
  });

  it("RFC 2617 MD5: the right password registers (200)", async () => {
    const u = await ua();
    expect(sipStatus(await registerWithAuth(u, "carol", "carol-pw", "MD5"))).toBe(200);
  });

  it("a wrong password is challenged again (401) and registers nothing", async () => {
    const u = await ua();
    const res = await registerWithAuth(u, "bob", "not-bobs-password");
    expect(sipStatus(res)).toBe(401);
    expect(challengesOf(res, "www-authenticate")[0]!.params.has("stale")).toBe(false);
    const view = (await (await fetch(`${sys.adminUrl}/v1/aors/${encodeURIComponent(`sip:bob@${DOMAIN}`)}`)).json()) as { bindings: unknown[] };
    expect(view.bindings).toEqual([]);
  });

  it("RFC 2617 §3.2.1: the right password with an expired nonce gets 401 stale=true, then the new nonce works", async () => {
    const u = await ua();
    const aor = `sip:alice@${DOMAIN}`;
    // A nonce the cluster signed 10 minutes ago (default lifetime 300 s): authentic but expired.
    const old = new NonceCodec({ secret: SECRET, clock: () => Date.now() - 600_000 }).issue(DOMAIN);
    const d = { callId: randomToken(), cseq: 1 };
    const stale = new Map([["realm", DOMAIN], ["nonce", old]]);
    const res = await u.request(registerText(u, aor, d, [credentials("Authorization", stale, { user: "alice", password: "alice-pw", method: "REGISTER", uri: `sip:${DOMAIN}`, alg: "SHA-256" })]), edge());
    expect(sipStatus(res)).toBe(401);
    const ch = challengesOf(res, "www-authenticate");
    expect(ch.every((c) => c.params.get("stale") === "true")).toBe(true);
    d.cseq++;
    const ok = await u.request(registerText(u, aor, d, [credentials("Authorization", ch[0]!.params, { user: "alice", password: "alice-pw", method: "REGISTER", uri: `sip:${DOMAIN}`, alg: "SHA-256" })]), edge());
    expect(sipStatus(ok)).toBe(200);
  });

  it("RFC 2617 §3.2.2: a replayed Authorization (same nonce and nc) is refused; a higher nc is accepted", async () => {
    const u = await ua();
    const aor = `sip:carol@${DOMAIN}`;
    const d = { callId: randomToken(), cseq: 1 };
    const ch = challengesOf(await u.request(registerText(u, aor, d), edge()), "www-authenticate")[0]!;
    const o = { user: "carol", password: "carol-pw", method: "REGISTER", uri: `sip:${DOMAIN}`, alg: "SHA-256" as const };
    const auth1 = credentials("Authorization", ch.params, { ...o, nc: 1 });
    d.cseq++;
    expect(sipStatus(await u.request(registerText(u, aor, d, [auth1]), edge()))).toBe(200);
    // An attacker re-sends the captured credentials in a new transaction.
    d.cseq++;
    const replay = await u.request(registerText(u, aor, d, [auth1]), edge());
    expect(sipStatus(replay)).toBe(401);
    d.cseq++;
    expect(sipStatus(await u.request(registerText(u, aor, d, [credentials("Authorization", ch.params, { ...o, nc: 2 })]), edge()))).toBe(200);
  });

  it("RFC 3261 §10.3 step 4: an authenticated user registering someone else's AOR gets 403", async () => {
    const u = await ua();
    const aor = `sip:bob@${DOMAIN}`;
    const d = { callId: randomToken(), cseq: 1 };
    const ch = challengesOf(await u.request(registerText(u, aor, d), edge()), "www-authenticate")[0]!;
    d.cseq++;
    const res = await u.request(
      registerText(u, aor, d, [credentials("Authorization", ch.params, { user: "alice", password: "alice-pw", method: "REGISTER", uri: `sip:${DOMAIN}`, alg: "SHA-256" })]),
      edge(),
    );
    expect(sipStatus(res)).toBe(403);
  });

  it("RFC 3261 §22.3: MESSAGE from an untrusted source gets 407; with Proxy-Authorization it reaches the callee without our credentials", async () => {
    const callee = await ua();
    expect(sipStatus(await registerWithAuth(callee, "bob", "bob-pw"))).toBe(200);
    const caller = await ua();
    const from = `sip:alice@${DOMAIN}`;
    const to = `sip:bob@${DOMAIN}`;
    const d = { callId: randomToken(), cseq: 1 };
    const c = await caller.request(messageText(caller, from, to, d), edge());
    expect(sipStatus(c)).toBe(407);
    const ch = challengesOf(c, "proxy-authenticate");
    expect(ch.map((x) => x.algorithm)).toEqual(["SHA-256", "MD5"]);
    d.cseq++;
    const pending = caller.request(messageText(caller, from, to, d, [credentials("Proxy-Authorization", ch[1]!.params, { user: "alice", password: "alice-pw", method: "MESSAGE", uri: to, alg: "MD5" })]), edge(), 10_000);
    const delivered = await answerMessage(callee);
    expect(sipHeader(delivered, "x-edgepath-source")).toBeUndefined(); // internal header never leaves
    // RFC 3261 §22.3 (Kamailio consume_credentials): credentials for our realm stop at the proxy
    // that checked them; a foreign realm's would pass (location-proxy unit test).
    expect(sipHeaders(delivered, "proxy-authorization")).toEqual([]);
    expect(sipStatus(await pending)).toBe(200);
  });

  it("DESIGN §6: a trusted CIDR skips auth; a source header forged from outside is stripped and does not", async () => {
    const callee = await ua();
    expect(sipStatus(await registerWithAuth(callee, "alice", "alice-pw"))).toBe(200);
    const to = `sip:alice@${DOMAIN}`;
    const trunk = await ua(TRUNK_IP);
    const d = { callId: randomToken(), cseq: 1 };
    const pending = trunk.request(messageText(trunk, "sip:+15551234@carrier.example", to, d), edge(), 10_000);
    const m = await answerMessage(callee);
    expect(sipHeader(m, "from")).toContain("carrier.example");
    expect(sipStatus(await pending)).toBe(200);

    // The same request from an untrusted address, claiming to come from the trunk.
    const spoofer = await ua();
    const res = await spoofer.request(messageText(spoofer, "sip:+15551234@carrier.example", to, { callId: randomToken(), cseq: 1 }, [`X-Edgepath-Source: ${TRUNK_IP};sig=AAAAAAAAAAAAAAAA`]), edge());
    expect(sipStatus(res)).toBe(407);
  });
});
