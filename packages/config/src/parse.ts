/**
 * Pure parsers for the textual forms config values take. Each returns a result
 * union; the schema in config.ts turns failures into zod issues that name the
 * setting.
 */
import { isIPv4, isIPv6 } from "node:net";
import { canonicalHost } from "@edgepath/sip";

export type SipTransport = "udp" | "tcp" | "tls" | "ws" | "wss";

export interface HostPort {
  /** IPv6 literals without brackets. */
  readonly host: string;
  readonly port: number;
}

export interface ListenSpec extends HostPort {
  readonly transport: SipTransport;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (message: string): Parsed<never> => ({ ok: false, message });

const TRANSPORTS: readonly SipTransport[] = ["udp", "tcp", "tls", "ws", "wss"];
// RFC 1123 host names: labels of letters, digits and hyphens, not starting/ending with "-".
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export function isHostname(s: string): boolean {
  return HOSTNAME.test(s);
}

export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "0:0:0:0:0:0:0:0";
}

/** "host:port", "[v6]:port". `allowPortZero` for addresses the OS assigns. */
export function parseHostPort(s: string, allowPortZero: boolean): Parsed<HostPort> {
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0 || s[close + 1] !== ":") return fail(`"${s}" is not [ipv6]:port`);
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    // An IPv4 address is taken in brackets too, so a template can bracket an address whose family it
    // does not know (the Helm chart writes "[$(POD_IP)]:5070", right for an IPv4 and an IPv6 pod).
    if (!isIPv6(host) && !isIPv4(host)) return fail(`"${host}" is not an IP address`);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) return fail(`"${s}" has no port (expected host:port)`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) return fail(`"${s}": IPv6 addresses need brackets, e.g. [::1]:5060`);
    if (!isIPv4(host) && !isHostname(host)) return fail(`"${host}" is not a valid host`);
  }
  if (!/^\d{1,5}$/.test(portText)) return fail(`"${s}" has a bad port "${portText}"`);
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) return fail(`port ${port} is out of range (1..65535)`);
  return ok({ host: host.toLowerCase(), port });
}

/** Formats host:port, bracketing IPv6. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/**
 * Comma/space separated `[transport:]host:port`. No transport means both UDP and
 * TCP on that address (RFC 3261 §18: UDP and TCP MUST both be supported).
 */
export function parseListenList(s: string): Parsed<ListenSpec[]> {
  const items = s.split(/[\s,]+/).filter((x) => x.length > 0);
  if (items.length === 0) return fail("no listen address given");
  const out: ListenSpec[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    let transports: readonly SipTransport[] = ["udp", "tcp"];
    let rest = item;
    // "tls:host:port" / "tls:[v6]:port": an alphabetic prefix followed by another
    // host:port. "host:port" alone has a single colon after the name.
    const colon = item.indexOf(":");
    const prefix = colon > 0 ? item.slice(0, colon) : "";
    if (/^[a-z]+$/i.test(prefix) && item.slice(colon + 1).includes(":")) {
      const t = prefix.toLowerCase();
      if (!(TRANSPORTS as readonly string[]).includes(t)) {
        return fail(`"${item}": unknown transport "${prefix}" (use udp, tcp, tls, ws or wss)`);
      }
      transports = [t as SipTransport];
      rest = item.slice(colon + 1);
    }
    const hp = parseHostPort(rest, true);
    if (!hp.ok) return fail(`"${item}": ${hp.message}`);
    for (const transport of transports) {
      const key = `${transport}|${hp.value.host}|${hp.value.port}`;
      if (seen.has(key)) return fail(`"${item}": ${transport} listener on ${formatHostPort(hp.value)} given twice`);
      seen.add(key);
      out.push({ transport, host: hp.value.host, port: hp.value.port });
    }
  }
  return ok(out);
}

export function parseInteger(s: string, min: number, max: number): Parsed<number> {
  if (!/^-?\d+$/.test(s)) return fail(`"${s}" is not an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) return fail(`${s} is out of range (${min}..${max})`);
  return ok(n);
}

export function parseBool(s: string): Parsed<boolean> {
  switch (s.toLowerCase()) {
    case "1":
    case "true":
    case "yes":
    case "on":
      return ok(true);
    case "0":
    case "false":
    case "no":
    case "off":
      return ok(false);
    default:
      return fail(`"${s}" is not a boolean (true/false, yes/no, on/off, 1/0)`);
  }
}

/** Comma list of SIP domains, lower-cased, de-duplicated, order kept. */
export function parseDomains(s: string): Parsed<string[]> {
  const out: string[] = [];
  for (const raw of s.split(",")) {
    const d = raw.trim();
    if (d.length === 0) continue;
    const host = canonicalHost(d);
    if (!isHostname(host) && !isIPv4(host) && !isIPv6(host)) return fail(`"${d}" is not a domain name or IP address`);
    if (!out.includes(host)) out.push(host);
  }
  if (out.length === 0) return fail("no domain given");
  return ok(out);
}

/**
 * `alias=domain` pairs, comma separated: host names or addresses that name one of the served
 * domains in a Request-URI or To URI (Kamailio's `alias`). The targets are checked against
 * EDGEPATH_DOMAINS by the caller. Hosts as canonicalHost (@edgepath/sip) writes them.
 */
export function parseDomainAliases(s: string): Parsed<[string, string][]> {
  const out: [string, string][] = [];
  for (const raw of s.split(",")) {
    const item = raw.trim();
    if (item.length === 0) continue;
    const eq = item.indexOf("=");
    if (eq < 0) return fail(`"${item}" is not alias=domain`);
    const written = item.slice(0, eq).trim();
    const alias = canonicalHost(written);
    if (!isHostname(alias) && !isIPv4(alias) && !isIPv6(alias)) return fail(`"${item}": "${written}" is not a host name or IP address`);
    // a Request-URI never names these: the alias could not match anything
    if (isWildcardHost(alias) || alias.endsWith(".")) return fail(`"${item}": "${written}" is not an address a Request-URI names`);
    if (out.some(([a]) => a === alias)) return fail(`"${item}": ${alias} given twice`);
    // as EDGEPATH_DOMAINS holds it
    out.push([alias, canonicalHost(item.slice(eq + 1).trim())]);
  }
  if (out.length === 0) return fail("no alias given");
  return ok(out);
}

export function parseUrl(s: string, schemes: readonly string[]): Parsed<string> {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail(`"${redactUrl(s)}" is not a URL`);
  }
  const scheme = u.protocol.slice(0, -1);
  if (!schemes.includes(scheme)) return fail(`scheme "${scheme}:" not supported (use ${schemes.map((x) => `${x}://`).join(", ")})`);
  if (u.hostname === "") return fail(`"${redactUrl(s)}" has no host`);
  return ok(s);
}

/** Removes a password from a URL for messages (never log credentials). */
export function redactUrl(s: string): string {
  return s.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1:***@");
}

/**
 * The address an edge puts in its own Via sent-by and public-side Record-Route when it sits behind
 * NAT or a load balancer (Kamailio's `advertise`, OpenSIPS' `as`). Without `transport` it applies
 * to every public listener; without `port` the listener's own port is kept.
 */
export interface PublicAdvertise {
  readonly transport?: SipTransport;
  readonly host: string;
  readonly port?: number;
}

/**
 * Comma list of `[transport:]host[:port]`, e.g. `203.0.113.7`, `sip.example.com:5060`,
 * `udp:203.0.113.7:5060,tls:sip.example.com:5061`, `[2001:db8::7]`. IPv6 needs brackets (a bare
 * one cannot be told from host:port). At most one entry per transport and one without.
 */
export function parsePublicAdvertise(s: string): Parsed<PublicAdvertise[]> {
  const items = s.split(/[\s,]+/).filter((x) => x.length > 0);
  if (items.length === 0) return fail("no address given");
  const out: PublicAdvertise[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    let rest = item;
    let transport: SipTransport | undefined;
    const colon = item.indexOf(":");
    const prefix = colon > 0 ? item.slice(0, colon).toLowerCase() : "";
    if ((TRANSPORTS as readonly string[]).includes(prefix)) {
      transport = prefix as SipTransport;
      rest = item.slice(colon + 1);
    }
    let host: string;
    let portText: string | undefined;
    if (rest.startsWith("[")) {
      const close = rest.indexOf("]");
      if (close < 0) return fail(`"${item}": unclosed "[" in an IPv6 address`);
      host = rest.slice(1, close);
      // [IPv4] too, as in parseHostPort (the Helm chart's default "[$(POD_IP)]")
      if (!isIPv6(host) && !isIPv4(host)) return fail(`"${item}": "${host}" is not an IP address`);
      const after = rest.slice(close + 1);
      if (after !== "" && !after.startsWith(":")) return fail(`"${item}": expected ":port" after "]"`);
      portText = after === "" ? undefined : after.slice(1);
    } else {
      const c = rest.indexOf(":");
      if (c >= 0 && rest.indexOf(":", c + 1) >= 0) return fail(`"${item}": IPv6 addresses need brackets, e.g. [2001:db8::7]:5060`);
      host = c < 0 ? rest : rest.slice(0, c);
      portText = c < 0 ? undefined : rest.slice(c + 1);
      // An all-digit "host" is a port without a host ("udp:5060"), not a name.
      if ((!isIPv4(host) && !isHostname(host)) || /^\d+$/.test(host)) return fail(`"${item}": "${host}" is not a valid host`);
    }
    if (isWildcardHost(host)) return fail(`"${item}": ${host} is a wildcard address; advertise one that clients can reach`);
    let port: number | undefined;
    if (portText !== undefined) {
      if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return fail(`"${item}": bad port "${portText}" (1..65535)`);
      port = Number(portText);
    }
    const key = transport ?? "*";
    if (seen.has(key)) return fail(`"${item}": ${transport === undefined ? "an address without a transport" : `${transport}`} given twice`);
    seen.add(key);
    out.push({ ...(transport !== undefined ? { transport } : {}), host: host.toLowerCase(), ...(port !== undefined ? { port } : {}) });
  }
  return ok(out);
}
