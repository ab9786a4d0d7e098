/**
 * Credentials as HA1 values (DESIGN §6: "credentials stored as HA1"): the password itself is
 * never stored. One HA1 per algorithm we offer, because H(A1) differs between MD5 and SHA-256
 * (RFC 8760 §2.2).
 *
 * The digest username is the AOR's user part and the realm the AOR's domain unless a realm is
 * configured (DESIGN §6); a credential owns exactly one AOR.
 */
import { canonicalAor, parseSipUri } from "@edgepath/sip";
import { computeHa1, type DigestAlgorithm } from "./digest.js";
import { AuthError } from "./errors.js";

export interface Credential {
  /** Canonical AOR this user owns, e.g. "sip:alice@example.com". */
  readonly aor: string;
  readonly username: string;
  /** lower-case */
  readonly realm: string;
  readonly ha1: Readonly<Record<DigestAlgorithm, string>>;
}

/** Where credentials live: memory (embedded) or Redis (cluster). */
export interface CredentialStore {
  get(username: string, realm: string): Promise<Credential | undefined>;
  put(credential: Credential): Promise<void>;
  /** true when something was removed */
  remove(username: string, realm: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * RFC 2617 §3.2.2 nonce-count: the client counts requests per nonce; a server that remembers
 * the highest nc seen refuses a replayed request (same or lower nc).
 */
export interface NonceCounter {
  /** Records `nc` for `nonce`; false when nc is not greater than the highest seen (a replay). */
  advance(nonce: string, nc: number, ttlMs: number): Promise<boolean>;
}

/**
 * Builds the stored credential of `aor` from a password: username = user part, realm =
 * `realm` or the AOR's domain.
 */
export function credentialFor(aor: string, password: string, realm?: string): Credential {
  let canonical: string;
  let user: string | undefined;
  let host: string;
  try {
    canonical = canonicalAor(aor);
    const u = parseSipUri(canonical);
    user = u.user;
    host = u.host;
  } catch (err) {
    throw new AuthError("bad-credential", `not a SIP AOR: "${aor}"`, { cause: err });
  }
  if (user === undefined || user === "") throw new AuthError("bad-credential", `AOR has no user part: "${aor}"`);
  if (password.length === 0) throw new AuthError("bad-credential", "empty password");
  const r = (realm ?? host).toLowerCase();
  return {
    aor: canonical,
    username: user,
    realm: r,
    ha1: { "SHA-256": computeHa1("SHA-256", user, r, password), MD5: computeHa1("MD5", user, r, password) },
  };
}

/** Username and realm of an AOR, as `credentialFor` would store them (for `ctl user rm`). */
export function credentialKeyOf(aor: string, realm?: string): { username: string; realm: string } {
  let u;
  try {
    u = parseSipUri(canonicalAor(aor));
  } catch (err) {
    throw new AuthError("bad-credential", `not a SIP AOR: "${aor}"`, { cause: err });
  }
  if (u.user === undefined || u.user === "") throw new AuthError("bad-credential", `AOR has no user part: "${aor}"`);
  return { username: u.user, realm: (realm ?? u.host).toLowerCase() };
}

/**
 * In-memory credentials and nonce counts (embedded mode; every worker of the process shares
 * one instance, so nc replay is caught whichever worker sees the request).
 */
export class MemoryCredentialStore implements CredentialStore, NonceCounter {
  readonly #creds = new Map<string, Credential>();
  /** nonce -> { highest nc, forget-at }; insertion order is age order, bounded by `maxNonces`. */
  readonly #nc = new Map<string, { nc: number; until: number }>();
  readonly #maxNonces: number;
  readonly #clock: () => number;

  constructor(opts: { maxNonces?: number; clock?: () => number } = {}) {
    this.#maxNonces = opts.maxNonces ?? 100_000;
    this.#clock = opts.clock ?? Date.now;
  }

  get(username: string, realm: string): Promise<Credential | undefined> {
    return Promise.resolve(this.#creds.get(key(username, realm)));
  }

  put(c: Credential): Promise<void> {
    this.#creds.set(key(c.username, c.realm), c);
    return Promise.resolve();
  }

  remove(username: string, realm: string): Promise<boolean> {
    return Promise.resolve(this.#creds.delete(key(username, realm)));
  }

  get size(): number {
    return this.#creds.size;
  }

  advance(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    const seen = this.#nc.get(nonce);
    if (seen !== undefined && seen.until > now && nc <= seen.nc) return Promise.resolve(false);
    if (seen !== undefined) this.#nc.delete(nonce); // re-insert: newest last
    this.#nc.set(nonce, { nc, until: now + ttlMs });
    // Bounded: drop the oldest entries. A dropped nonce's nc restarts, so a replay of a
    // request using a nonce this old is accepted; nonces expire anyway after their TTL, and
    // the bound is far above the nonces live within one TTL at normal rates.
    while (this.#nc.size > this.#maxNonces) {
      const oldest = this.#nc.keys().next().value;
      if (oldest === undefined) break;
      this.#nc.delete(oldest);
    }
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function key(username: string, realm: string): string {
  return `${username}@${realm.toLowerCase()}`;
}
