/**
 * Stateless, signed nonces (DESIGN §6): any worker holding the cluster secret verifies a nonce
 * another worker issued, so a REGISTER retried after a ring change still authenticates.
 *
 * Format (base64url, no padding, so it needs no escaping inside a quoted-string):
 *   nonce = b64url( issued-at ms, 6 bytes big-endian | 9 random bytes ) "." b64url( HMAC-SHA256(
 *           secret, "edgepath-nonce|" realm "|" first part )[0..16) )
 * The realm is bound into the MAC so a nonce from one realm is not accepted in another.
 * Expiry is checked on verification: an expired but authentic nonce is `stale` (RFC 2617 §3.2.1,
 * RFC 3261 §22.4): the UA retries with the new nonce without asking the user again.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export type NonceCheck =
  | { readonly ok: true; readonly issuedAt: number }
  | { readonly ok: false; readonly why: "stale"; readonly issuedAt: number }
  | { readonly ok: false; readonly why: "invalid" };

export interface NonceCodecOptions {
  readonly secret: string;
  /** Lifetime of a nonce; after it the nonce is stale. Default 300 s. */
  readonly ttlMs?: number;
  /** A nonce dated this far in the future (clock skew between workers) is still accepted. Default 5 s. */
  readonly maxSkewMs?: number;
  readonly clock?: () => number;
}

const MAC_BYTES = 16;

export class NonceCodec {
  readonly ttlMs: number;
  readonly #secret: Buffer;
  readonly #skew: number;
  readonly #clock: () => number;

  constructor(opts: NonceCodecOptions) {
    if (opts.secret.length < 16) throw new RangeError("NonceCodec: secret must be at least 16 characters");
    this.#secret = Buffer.from(opts.secret, "utf8");
    this.ttlMs = opts.ttlMs ?? 300_000;
    this.#skew = opts.maxSkewMs ?? 5_000;
    this.#clock = opts.clock ?? Date.now;
  }

  issue(realm: string): string {
    const body = Buffer.allocUnsafe(15);
    body.writeUIntBE(this.#clock(), 0, 6);
    randomBytes(9).copy(body, 6);
    const head = body.toString("base64url");
    return `${head}.${this.#mac(realm, head).toString("base64url")}`;
  }

  verify(nonce: string, realm: string): NonceCheck {
    const dot = nonce.indexOf(".");
    if (dot !== 20 || nonce.length > 64) return { ok: false, why: "invalid" };
    const head = nonce.slice(0, dot);
    const mac = Buffer.from(nonce.slice(dot + 1), "base64url");
    if (mac.length !== MAC_BYTES || !timingSafeEqual(mac, this.#mac(realm, head))) return { ok: false, why: "invalid" };
    const body = Buffer.from(head, "base64url");
    if (body.length !== 15) return { ok: false, why: "invalid" };
    const issuedAt = body.readUIntBE(0, 6);
    const now = this.#clock();
    if (issuedAt > now + this.#skew) return { ok: false, why: "invalid" };
    if (now - issuedAt > this.ttlMs) return { ok: false, why: "stale", issuedAt };
    return { ok: true, issuedAt };
  }

  #mac(realm: string, head: string): Buffer {
    return createHmac("sha256", this.#secret).update(`edgepath-nonce|${realm.toLowerCase()}|${head}`).digest().subarray(0, MAC_BYTES);
  }
}
