/**
 * Which SIP URIs are "this edge" (RFC 3261 §16.4: a proxy recognises its own Route and
 * Record-Route values). An edge owns its internal advertised address and every public
 * listener address; a URI without a port means the scheme's default (5060, 5061 for sips
 * and TLS; RFC 3261 §19.1.2).
 */
import type { SipUri } from "@edgepath/sip";
import type { TransportKind } from "@edgepath/transport";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function defaultPort(scheme: string, transport: string | undefined): number {
  if (scheme === "sips") return 5061;
  const t = transport?.toLowerCase();
  if (t === "tls") return 5061;
  if (t === "ws") return 80;
  if (t === "wss") return 443;
  return 5060;
}

/** Parses "host:port", "[v6]:port". Returns undefined on anything else. */
export function parseHostPort(s: string): HostPort | undefined {
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0 || s.charCodeAt(close + 1) !== 58 /* : */) return undefined;
    host = s.slice(1, close);
    portText = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon <= 0) return undefined;
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: host.toLowerCase(), port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** URI transport for a Via/URI `transport=` param. */
export function uriTransport(uri: SipUri): TransportKind {
  const t = uri.params.get("transport");
  if (t === "tcp" || t === "tls" || t === "ws" || t === "wss") return t;
  if (uri.scheme === "sips") return "tls";
  return "udp";
}

export class OwnAddresses {
  private readonly set = new Set<string>();
  private readonly servedDomains = new Set<string>();

  /**
   * A domain this system serves names the edge in a Route without a port (the outbound proxy
   * `sip:example.com;lr` a UA is given, resolved by RFC 3263 to the edge) or with one of our
   * public ports (Kamailio's `alias`, which `myself` matches).
   */
  addServedDomain(domain: string, publicPorts: readonly number[]): void {
    const d = domain.toLowerCase();
    this.servedDomains.add(d);
    for (const port of publicPorts) this.add(d, port);
  }

  add(host: string, port: number): void {
    this.set.add(`${host.toLowerCase()}|${port}`);
  }

  isOwn(host: string, port: number): boolean {
    return this.set.has(`${host}|${port}`);
  }

  isOwnUri(uri: SipUri): boolean {
    if (uri.port === undefined && this.servedDomains.has(uri.host)) return true;
    return this.isOwn(uri.host, uri.port ?? defaultPort(uri.scheme, uri.params.get("transport") ?? undefined));
  }

  /** True when the host alone is one of ours (any port): "myself" for OPTIONS and domain checks. */
  isOwnHost(host: string): boolean {
    for (const k of this.set) if (k.startsWith(`${host}|`)) return true;
    return false;
  }
}
