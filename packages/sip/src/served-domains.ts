/**
 * The SIP domains a deployment is responsible for (RFC 3261 §10.3 step 1, §16.5) and the other
 * host names or addresses that mean one of them: aliases, like Kamailio's `alias`. A carrier
 * puts the edge's public IP in the Request-URI of a call (`sip:+15551234@203.0.113.7`), a phone
 * configured by IP registers `sip:alice@203.0.113.7`: with `203.0.113.7=example.com` both are the
 * AOR `sip:...@example.com`, so they meet the bindings of the domain's users.
 *
 * Hosts compare lower-case, an IPv6 address without brackets (as SipUri.host holds it) and in one
 * spelling (2001:DB8:0::7 and [2001:db8::7] are the same host).
 */
import { canonicalAor, parseSipUri } from "./uri.js";
import type { SipUri } from "./types.js";

export class ServedDomains {
  readonly #domains: ReadonlySet<string>;
  readonly #aliases: ReadonlyMap<string, string>;
  /** an AOR's host can differ from the URI's: there are aliases, or IPv6 domains (other spellings) */
  readonly #rewrites: boolean;

  constructor(domains: Iterable<string>, aliases: Iterable<readonly [string, string]> = []) {
    this.#domains = new Set([...domains].map(canonicalHost));
    const m = new Map<string, string>();
    for (const [alias, domain] of aliases) {
      const d = canonicalHost(domain);
      if (!this.#domains.has(d)) throw new RangeError(`alias ${alias}: ${domain} is not a served domain`);
      m.set(canonicalHost(alias), d);
    }
    this.#aliases = m;
    this.#rewrites = m.size > 0 || [...this.#domains].some((d) => d.includes(":"));
  }

  /** The domains themselves (aliases not included). */
  get domains(): ReadonlySet<string> {
    return this.#domains;
  }

  /** The alias hosts (each names one of `domains`). */
  get aliases(): ReadonlyMap<string, string> {
    return this.#aliases;
  }

  /** The served domain `host` names: itself, the domain it is an alias of, or undefined. */
  domainOf(host: string): string | undefined {
    const h = canonicalHost(host);
    return this.#domains.has(h) ? h : this.#aliases.get(h);
  }

  /** `host` is a served domain or an alias of one. */
  has(host: string): boolean {
    return this.domainOf(host) !== undefined;
  }

  /**
   * canonicalAor of a SIP URI, with an alias host replaced by the domain it names (and an IPv6
   * domain in its one spelling). Throws a SipParseError for something that is not a SIP URI.
   */
  aorOf(uri: string | SipUri): string {
    if (!this.#rewrites) return canonicalAor(uri);
    // a parsed URI (the edge's and the location proxy's Request-URI) is used as it is; a string
    // is parsed once (parseSipUri refuses another scheme with a SipParseError, as canonicalAor does)
    const u = typeof uri === "string" ? parseSipUri(uri) : uri;
    const domain = this.domainOf(u.host);
    if (domain === undefined || domain === u.host) return canonicalAor(u);
    return canonicalAor({ ...u, host: domain, hostType: domain.includes(":") ? "ipv6" : "name" });
  }
}

/**
 * One spelling per host, for comparing hosts: lower case, an IPv6 address without brackets and in
 * its compressed form (RFC 5952, as the WHATWG URL parser writes it: [2001:DB8:0::7] ->
 * 2001:db8::7). Anything that is not an IPv6 address keeps its letters, lower-cased.
 */
export function canonicalHost(h: string): string {
  const l = h.toLowerCase();
  const bare = l.startsWith("[") && l.endsWith("]") ? l.slice(1, -1) : l;
  if (!bare.includes(":")) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare;
  }
}
