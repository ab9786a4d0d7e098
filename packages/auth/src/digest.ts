/**
 * HTTP Digest as SIP uses it: RFC 3261 §22.4 (RFC 2617 with qop=auth), RFC 8760 (SHA-256
 * alongside MD5). Pure functions: hashing, challenge values, and the expected response.
 *
 * Choices:
 * - Algorithms offered: SHA-256 then MD5 (RFC 8760 §2.4: one challenge per algorithm, most
 *   preferred first). `-sess` variants and SHA-512-256 are not offered and are refused.
 * - qop=auth only (RFC 3261 §22.4 "MUST always be able to... qop auth"; auth-int protects
 *   bodies a proxy does not own). A response without qop (RFC 2069 style) is refused: the
 *   nonce-count replay check depends on nc (DESIGN §6).
 */
import { createHash } from "node:crypto";

export type DigestAlgorithm = "SHA-256" | "MD5";

/** RFC 8760 §2.4: preference order of the challenges we send. */
export const OFFERED_ALGORITHMS: readonly DigestAlgorithm[] = ["SHA-256", "MD5"];

const NODE_HASH: Readonly<Record<DigestAlgorithm, string>> = { "SHA-256": "sha256", MD5: "md5" };

/** RFC 7616 §3.4.2 / RFC 2617 §3.2.2.2: the algorithm token, case-insensitive; absent = MD5. */
export function parseAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) return "MD5";
  const v = value.trim().toUpperCase();
  if (v === "MD5") return "MD5";
  if (v === "SHA-256") return "SHA-256";
  return undefined;
}

export function digestHash(alg: DigestAlgorithm, data: string): string {
  return createHash(NODE_HASH[alg]).update(data, "utf8").digest("hex");
}

/** RFC 2617 §3.2.2.2: A1 = username ":" realm ":" password; the store keeps only H(A1). */
export function computeHa1(alg: DigestAlgorithm, username: string, realm: string, password: string): string {
  return digestHash(alg, `${username}:${realm}:${password}`);
}

export interface DigestResponseInput {
  readonly algorithm: DigestAlgorithm;
  readonly ha1: string;
  readonly method: string;
  readonly uri: string;
  readonly nonce: string;
  readonly nc: string;
  readonly cnonce: string;
  readonly qop: "auth";
}

/** RFC 2617 §3.2.2.1 with qop=auth: KD(H(A1), nonce:nc:cnonce:qop:H(A2)), A2 = Method:digest-uri. */
export function computeDigestResponse(i: DigestResponseInput): string {
  const ha2 = digestHash(i.algorithm, `${i.method}:${i.uri}`);
  return digestHash(i.algorithm, `${i.ha1}:${i.nonce}:${i.nc}:${i.cnonce}:${i.qop}:${ha2}`);
}

/** One challenge value (the part after `WWW-Authenticate:` / `Proxy-Authenticate:`), RFC 3261 §22.4. */
export function challengeValue(opts: { realm: string; nonce: string; algorithm: DigestAlgorithm; stale: boolean; opaque?: string }): string {
  let v = `Digest realm="${quoteEscape(opts.realm)}", nonce="${opts.nonce}", algorithm=${opts.algorithm}, qop="auth"`;
  if (opts.opaque !== undefined) v += `, opaque="${quoteEscape(opts.opaque)}"`;
  // RFC 2617 §3.2.1: stale=TRUE when the response was right but the nonce is no longer valid.
  if (opts.stale) v += ", stale=true";
  return v;
}

/** RFC 2617 §3.2.2: nc is exactly 8 hex digits. */
export function parseNonceCount(nc: string | undefined): number | undefined {
  if (nc === undefined || nc.length !== 8 || !/^[0-9a-fA-F]{8}$/.test(nc)) return undefined;
  return Number.parseInt(nc, 16);
}

function quoteEscape(s: string): string {
  return s.replace(/["\\]/g, (c) => `\\${c}`);
}
