/**
 * Trusted peers by CIDR (DESIGN §6: trunks and other proxies skip digest auth), and the
 * internal header that tells a worker where a request really came from.
 *
 * The edge is the only component that sees the public source address. It stamps each request
 * it forwards to a worker with `X-Edgepath-Source: <ip>;sig=<hmac>` and removes any such
 * header that arrives from the public side, on ingress, and on egress to the public side
 * (DESIGN §5/§6: never trust an internal header from outside, never leak one). The stamp is
 * HMAC-signed with the cluster secret and bound to the request's Call-ID and CSeq, so a header
 * forged by anything that reaches a worker's socket directly is not believed either.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";
import { AuthError } from "./errors.js";

export const SOURCE_HEADER = "X-Edgepath-Source";

export class TrustedNetworks {
  readonly #list = new BlockList();
  readonly cidrs: readonly string[];

  /** `cidrs`: "10.0.0.0/8", "2001:db8::/32", or a bare address (= /32, /128). */
  constructor(cidrs: readonly string[]) {
    const out: string[] = [];
    for (const raw of cidrs) {
      const c = raw.trim();
      if (c === "") continue;
      const slash = c.indexOf("/");
      const addr = slash < 0 ? c : c.slice(0, slash);
      const family = isIP(addr);
      if (family === 0) throw new AuthError("bad-config", `EDGEPATH_TRUSTED_CIDRS: "${c}" is not an IP address or CIDR`);
      const max = family === 4 ? 32 : 128;
      const prefix = slash < 0 ? max : Number(c.slice(slash + 1));
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash >= 0 && !/^\d+$/.test(c.slice(slash + 1)))) {
        throw new AuthError("bad-config", `EDGEPATH_TRUSTED_CIDRS: "${c}" has a bad prefix length`);
      }
      this.#list.addSubnet(addr, prefix, family === 4 ? "ipv4" : "ipv6");
      out.push(`${addr}/${prefix}`);
    }
    this.cidrs = out;
  }

  get empty(): boolean {
    return this.cidrs.length === 0;
  }

  has(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    const v4mapped = address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(v4mapped);
    if (family === 0) return false;
    return this.#list.check(v4mapped, family === 4 ? "ipv4" : "ipv6");
  }
}

/** SHA-256's block size: HMAC pads the key to it (RFC 2104 §2, "B = 64"). */
const BLOCK = 64;
const DIGEST = 32;
/** The stamp carries the first 96 bits of the HMAC (RFC 2104 §5 truncation; 12 bytes = 16 base64url chars). */
const SIG_CHARS = 16;

/**
 * Signs and checks the edge's source stamp.
 *
 * The edge signs every request it forwards from the public side, so this is on its hot path.
 * It computes the same HMAC-SHA256 as `createHmac` (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m))),
 * bit for bit, but with the padded key blocks prepared once and two one-shot `crypto.hash` calls
 * over reused buffers: no Hmac object and no key schedule per request (about half the time).
 */
export class SourceStamp {
  /** (K ^ ipad) followed by room for the message. */
  #inner: Buffer;
  /** (K ^ opad) followed by the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + DIGEST);

  constructor(secret: string) {
    let key = Buffer.from(`edgepath-source|${secret}`, "utf8");
    // RFC 2104 §2: "Applications that use keys longer than B bytes will first hash the key using H".
    if (key.length > BLOCK) key = hash("sha256", key, "buffer");
    this.#inner = Buffer.alloc(BLOCK + 256);
    for (let i = 0; i < BLOCK; i++) {
      const k = key[i] ?? 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  /** Header value for a request with this Call-ID and CSeq number from `address`. */
  value(address: string, callId: string, cseq: number): string {
    return address + ";sig=" + this.#sig(address, callId, cseq);
  }

  /** The source address if the stamp is authentic, else undefined. */
  verify(value: string | undefined, callId: string, cseq: number): string | undefined {
    if (value === undefined) return undefined;
    const semi = value.indexOf(";sig=");
    if (semi <= 0) return undefined;
    const address = value.slice(0, semi).trim();
    if (isIP(address) === 0) return undefined;
    const got = Buffer.from(value.slice(semi + 5).trim(), "base64url");
    const want = Buffer.from(this.#sig(address, callId, cseq), "base64url");
    return got.length === want.length && timingSafeEqual(got, want) ? address : undefined;
  }

  /** HMAC-SHA256(key, "address|callId|cseq") truncated to 96 bits, base64url (16 characters). */
  #sig(address: string, callId: string, cseq: number): string {
    const message = address + "|" + callId + "|" + cseq;
    // utf8 needs at most 3 bytes per UTF-16 unit; grow the scratch buffer for an unusually long Call-ID.
    if (BLOCK + message.length * 3 > this.#inner.length) {
      const bigger = Buffer.alloc(BLOCK + message.length * 3);
      this.#inner.copy(bigger, 0, 0, BLOCK);
      this.#inner = bigger;
    }
    const n = this.#inner.write(message, BLOCK, "utf8");
    // The inner digest as a "binary" (latin1) string, one char per byte: Node's string output is cheaper than a Buffer's.
    this.#outer.write(hash("sha256", this.#inner.subarray(0, BLOCK + n), "binary"), BLOCK, "latin1");
    // 12 bytes are exactly the first 16 base64url characters of the digest (4 characters per 3 bytes).
    return hash("sha256", this.#outer, "base64url").slice(0, SIG_CHARS);
  }
}
