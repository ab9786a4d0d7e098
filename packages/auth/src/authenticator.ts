/**
 * Digest authentication and authorisation of SIP requests at the registrar worker
 * (RFC 3261 §22, §10.3 steps 3-4; RFC 8760; DESIGN §6).
 *
 * - REGISTER is challenged with 401 + WWW-Authenticate (RFC 3261 §22.2); every other request
 *   with 407 + Proxy-Authenticate (§22.3), since the worker acts as a proxy for it. ACK and
 *   CANCEL are never challenged (§22.1: they cannot be resubmitted with credentials).
 * - The identity asserted is the To AOR for REGISTER and the From AOR otherwise. The realm is the
 *   configured one, else that AOR's domain when it is ours, else our first domain.
 * - Requests whose edge-stamped source address is in a trusted CIDR skip all of this.
 * - Nonces are stateless and signed (nonce.ts); nonce-count replay is refused through a
 *   NonceCounter (memory: per process; Redis: cluster-wide).
 * - After authentication, authorisation: the user may only register (REGISTER) or send as
 *   (From) the one AOR it owns; anything else is 403.
 *
 * Outcomes other than "pass" carry the complete response to send.
 */
import { timingSafeEqual } from "node:crypto";
import { buildResponse, generateTag, parseAuthParams, parseSipUri, ServedDomains } from "@edgepath/sip";
import type { AuthParams, SipRequest } from "@edgepath/sip";
import {
  challengeValue,
  computeDigestResponse,
  OFFERED_ALGORITHMS,
  parseAlgorithm,
  parseNonceCount,
  type DigestAlgorithm,
} from "./digest.js";
import { NonceCodec } from "./nonce.js";
import type { CredentialStore, NonceCounter } from "./credentials.js";
import { SOURCE_HEADER, SourceStamp, type TrustedNetworks } from "./trusted.js";

export type AuthMode = "required" | "off";

/** Why a request was challenged, refused or let through (logs, metrics, tests). */
export type AuthWhy =
  | "trusted-source"
  | "not-challengeable"
  | "authenticated"
  | "no-credentials"
  | "unsupported-algorithm"
  | "bad-nonce"
  | "stale-nonce"
  | "unknown-user"
  | "wrong-password"
  | "nonce-replay"
  | "bad-credentials"
  | "uri-mismatch"
  | "not-owner"
  | "store-error";

export type AuthDecision =
  | { readonly kind: "pass"; readonly why: AuthWhy; readonly user?: string; readonly source?: string }
  | { readonly kind: "reject"; readonly why: AuthWhy; readonly status: number; readonly response: Buffer; readonly user?: string; readonly source?: string };

export interface SipAuthenticatorOptions {
  /** Cluster secret: signs nonces and verifies the edge's source stamp. */
  readonly secret: string;
  /** Local domains, lower-case. */
  readonly domains: readonly string[];
  /** EDGEPATH_DOMAIN_ALIASES: hosts naming one of `domains`; an identity at an alias is the domain's AOR. */
  readonly domainAliases?: ReadonlyMap<string, string>;
  /** Fixed realm for every user; default: the AOR's domain. */
  readonly realm?: string;
  readonly credentials: CredentialStore;
  /** nc replay protection; default none (documented gap when absent). */
  readonly nonceCounter?: NonceCounter;
  readonly trusted?: TrustedNetworks;
  /** Nonce lifetime; default 300 s. */
  readonly nonceTtlMs?: number;
  readonly clock?: () => number;
}

export interface AuthenticatorStats {
  passed: number;
  trusted: number;
  challenged: number;
  forbidden: number;
  stale: number;
  replays: number;
  failures: number;
}

export class SipAuthenticator {
  readonly stats: AuthenticatorStats = { passed: 0, trusted: 0, challenged: 0, forbidden: 0, stale: 0, replays: 0, failures: 0 };
  readonly #o: SipAuthenticatorOptions;
  readonly #nonces: NonceCodec;
  readonly #stamp: SourceStamp;
  readonly #served: ServedDomains;
  readonly #defaultRealm: string;

  constructor(opts: SipAuthenticatorOptions) {
    this.#o = opts;
    this.#nonces = new NonceCodec({ secret: opts.secret, ...(opts.nonceTtlMs !== undefined ? { ttlMs: opts.nonceTtlMs } : {}), ...(opts.clock !== undefined ? { clock: opts.clock } : {}) });
    this.#stamp = new SourceStamp(opts.secret);
    this.#served = new ServedDomains(opts.domains, opts.domainAliases ?? []);
    this.#defaultRealm = (opts.realm ?? opts.domains[0] ?? "edgepath").toLowerCase();
  }

  /** The source address the edge stamped on `req`, when the stamp is authentic. */
  sourceOf(req: SipRequest): string | undefined {
    return this.#stamp.verify(req.header(SOURCE_HEADER), req.callId, req.cseq().seq);
  }

  async authorize(req: SipRequest): Promise<AuthDecision> {
    const source = this.sourceOf(req);
    const src = source !== undefined ? { source } : {};
    if (source !== undefined && this.#o.trusted?.has(source) === true) {
      this.stats.trusted++;
      return { kind: "pass", why: "trusted-source", ...src };
    }
    if (req.method === "ACK" || req.method === "CANCEL") return { kind: "pass", why: "not-challengeable", ...src };

    const register = req.method === "REGISTER";
    // A From/To that is not a SIP AOR (tel:, malformed) cannot be owned by anyone: the request is
    // still challenged (realm = our default), and a successful login then gets 403.
    let identity: string | undefined;
    try {
      // a phone registered by IP (To: sip:alice@<alias>) is alice of the alias's domain
      identity = this.#served.aorOf(register ? req.to().uri : req.from().uri);
    } catch {
      identity = undefined;
    }
    const realm = identity === undefined ? this.#defaultRealm : this.#realmFor(identity);
    const creds = findCredentials(req, register ? "authorization" : "proxy-authorization", realm);
    const challenge = (why: AuthWhy, stale: boolean, user?: string): AuthDecision => {
      this.stats.challenged++;
      if (stale) this.stats.stale++;
      const status = register ? 401 : 407;
      const nonce = this.#nonces.issue(realm);
      const header = register ? "WWW-Authenticate" : "Proxy-Authenticate";
      const headers = OFFERED_ALGORITHMS.map((algorithm) => [header, challengeValue({ realm, nonce, algorithm, stale })] as const);
      const response = buildResponse(req, status, register ? "Unauthorized" : "Proxy Authentication Required", { toTag: generateTag(), headers });
      return { kind: "reject", why, status, response, ...(user !== undefined ? { user } : {}), ...src };
    };
    const refuse = (status: number, reason: string, why: AuthWhy, user?: string): AuthDecision => {
      if (status === 403) this.stats.forbidden++;
      else this.stats.failures++;
      const extra: Array<readonly [string, string]> = status === 503 ? [["Retry-After", "5"]] : [];
      const response = buildResponse(req, status, reason, { toTag: generateTag(), headers: extra });
      return { kind: "reject", why, status, response, ...(user !== undefined ? { user } : {}), ...src };
    };

    if (creds === undefined) return challenge("no-credentials", false);
    const p = creds.params;
    const algorithm = parseAlgorithm(p.get("algorithm"));
    if (algorithm === undefined) return challenge("unsupported-algorithm", false);
    const username = p.get("username");
    const nonce = p.get("nonce");
    const uri = p.get("uri");
    const response = p.get("response");
    const qop = p.get("qop");
    const cnonce = p.get("cnonce");
    const nc = parseNonceCount(p.get("nc"));
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return refuse(400, "Bad Credentials", "bad-credentials");
    }
    // We offer qop="auth" only; a response without qop (RFC 2069) cannot be replay-checked.
    if (qop?.toLowerCase() !== "auth" || cnonce === undefined || nc === undefined) {
      return challenge("bad-credentials", false, username);
    }
    // RFC 2617 §3.2.2.5: the digest-uri must name the Request-URI.
    if (!sameUri(uri, req.uri)) return refuse(400, "Digest URI Mismatch", "uri-mismatch", username);

    const check = this.#nonces.verify(nonce, realm);
    if (!check.ok && check.why === "invalid") return challenge("bad-nonce", false, username);

    let credential;
    try {
      credential = await this.#o.credentials.get(username, realm);
    } catch {
      return refuse(503, "Service Unavailable", "store-error", username);
    }
    if (credential === undefined) return challenge("unknown-user", false, username);

    const expected = computeDigestResponse({
      algorithm,
      ha1: credential.ha1[algorithm as DigestAlgorithm],
      method: req.method,
      uri,
      nonce,
      nc: p.get("nc")!,
      cnonce,
      qop: "auth",
    });
    if (!hexEqual(expected, response)) return challenge("wrong-password", false, username);
    // RFC 2617 §3.2.1: right password, old nonce -> stale=TRUE, the UA retries without the user.
    if (!check.ok) return challenge("stale-nonce", true, username);

    if (this.#o.nonceCounter !== undefined) {
      let fresh: boolean;
      try {
        const left = this.#nonces.ttlMs - ((this.#o.clock ?? Date.now)() - check.issuedAt);
        fresh = await this.#o.nonceCounter.advance(nonce, nc, Math.max(1000, left + 5000));
      } catch {
        return refuse(503, "Service Unavailable", "store-error", username);
      }
      if (!fresh) {
        // A replay (or nc out of order). stale=true: a genuine UA re-authenticates silently with
        // a new nonce; an attacker replaying captured bytes cannot answer the new nonce.
        this.stats.replays++;
        return challenge("nonce-replay", true, username);
      }
    }

    // Authorisation (§10.3 step 4 for REGISTER; sender identity otherwise).
    if (identity !== credential.aor) {
      return refuse(403, register ? "Forbidden: Not Your AOR" : "Forbidden: From Does Not Match Credentials", "not-owner", username);
    }
    this.stats.passed++;
    return { kind: "pass", why: "authenticated", user: username, ...src };
  }

  #realmFor(aor: string): string {
    if (this.#o.realm !== undefined) return this.#defaultRealm;
    try {
      const host = parseSipUri(aor).host.toLowerCase();
      return this.#served.domains.has(host) ? host : this.#defaultRealm;
    } catch {
      return this.#defaultRealm;
    }
  }
}

/** The first Digest credentials for our realm among the (Proxy-)Authorization header lines. */
function findCredentials(req: SipRequest, name: "authorization" | "proxy-authorization", realm: string): AuthParams | undefined {
  for (const value of req.fieldValues(name)) {
    let a: AuthParams;
    try {
      a = parseAuthParams(value);
    } catch {
      continue;
    }
    // RFC 3261 §22.3: a request may carry credentials for several realms; use ours.
    if (a.scheme.toLowerCase() === "digest" && a.params.get("realm")?.toLowerCase() === realm) return a;
  }
  return undefined;
}

/** Exact, or equal ignoring case (UAs differ in the case of scheme, host and params). */
function sameUri(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

function hexEqual(expected: string, got: string): boolean {
  const g = got.toLowerCase();
  if (g.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected, "latin1"), Buffer.from(g, "latin1"));
}
