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
import { createHmac, timingSafeEqual } from "node:crypto";
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

/** Signs and checks the edge's source stamp. */
export class SourceStamp {
  readonly #secret: Buffer;

  constructor(secret: string) {
    this.#secret = Buffer.from(`edgepath-source|${secret}`, "utf8");
  }

  /** Header value for a request with this Call-ID and CSeq number from `address`. */
  value(address: string, callId: string, cseq: number): string {
    return `${address};sig=${this.#sig(address, callId, cseq)}`;
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

  #sig(address: string, callId: string, cseq: number): string {
    return createHmac("sha256", this.#secret).update(`${address}|${callId}|${cseq}`).digest().subarray(0, 12).toString("base64url");
  }
}
