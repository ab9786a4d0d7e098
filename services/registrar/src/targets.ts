/**
 * Where a message goes next, as transport addresses: the next hop of a request (RFC 3261 §16.6
 * steps 6-7: the top Route URI, or the Request-URI without Route) and the destination of a
 * response (§18.2.2 with RFC 3581 `received`/`rport`).
 *
 * Name resolution (RFC 3263) is not done here: workers only route to edges, whose Path / Route
 * URIs carry IP literals. A hostname is reported as unroutable so the branch fails fast.
 */
import { parseNameAddr, parseSipUri } from "@edgepath/sip";
import type { SipUri, Via } from "@edgepath/sip";
import type { SendTarget, TransportName } from "@edgepath/transactions";

const TRANSPORTS: ReadonlySet<string> = new Set(["udp", "tcp", "tls", "ws", "wss"]);

export type HopResult = { ok: true; target: SendTarget; uri: SipUri } | { ok: false; reason: string };

/** Transport address of a SIP URI used as a next hop (a Route value's URI or a contact). */
export function hopOfUri(uriText: string): HopResult {
  let u: SipUri;
  try {
    u = parseSipUri(uriText);
  } catch (err) {
    return { ok: false, reason: `bad next-hop URI ${uriText}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const tp = u.params.get("transport");
  let transport: TransportName = "udp";
  if (u.scheme === "sips") transport = "tls";
  else if (typeof tp === "string" && TRANSPORTS.has(tp.toLowerCase())) transport = tp.toLowerCase() as TransportName;
  // RFC 3261 §19.1.1: maddr overrides the host as the address to send to.
  const maddr = u.params.get("maddr");
  const host = typeof maddr === "string" && maddr !== "" ? stripBrackets(maddr) : u.host;
  if (!isIpLiteral(host)) return { ok: false, reason: `next hop ${host} is not an IP literal (no RFC 3263 resolution in workers)` };
  const port = u.port ?? (transport === "tls" || transport === "wss" ? 5061 : 5060);
  return { ok: true, target: { transport, address: host, port }, uri: u };
}

/** Next hop of a name-addr Route / Path value. */
export function hopOfRoute(routeValue: string): HopResult {
  try {
    return hopOfUri(parseNameAddr(routeValue).uri);
  } catch (err) {
    return { ok: false, reason: `bad Route value ${routeValue}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * RFC 3261 §18.2.2 / RFC 3581 §4: where to send responses for a request whose top Via is `via`
 * and which arrived from `source`. For UDP: `received` (else the sent-by host) and `rport`'s value
 * (else the source port when rport was requested, else the sent-by port or 5060). For a
 * connection transport: the connection's remote address (the transport layer reuses it).
 */
export function responseTarget(via: Via, source: { transport: string; remoteAddress: string; remotePort: number }): SendTarget {
  const transport = (TRANSPORTS.has(source.transport) ? source.transport : "udp") as TransportName;
  if (transport !== "udp") return { transport, address: source.remoteAddress, port: source.remotePort };
  const address = via.received ?? (isIpLiteral(via.host) ? via.host : source.remoteAddress);
  const port = typeof via.rport === "number" ? via.rport : via.rport === null ? source.remotePort : (via.port ?? 5060);
  return { transport, address, port };
}

/** Where a statelessly forwarded response goes: the Via below ours (§16.11, §18.2.2) without flow knowledge. */
export function viaTarget(via: Via): SendTarget | undefined {
  const t = via.transport.toLowerCase();
  const transport = (TRANSPORTS.has(t) ? t : "udp") as TransportName;
  const address = via.received ?? via.host;
  if (!isIpLiteral(address)) return undefined;
  const port = typeof via.rport === "number" ? via.rport : (via.port ?? (transport === "tls" ? 5061 : 5060));
  return { transport, address, port };
}

export function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

function stripBrackets(h: string): string {
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** "host:port" with IPv6 in brackets (the form Binding.edge and member addresses use). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
