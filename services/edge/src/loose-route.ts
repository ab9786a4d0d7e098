/**
 * Loose routing at the edge (RFC 3261 §16.4, RFC 5626 §5.3).
 *
 * A request whose top Route entries are this edge's own URIs (a Path or Record-Route we
 * made) has them popped. A popped URI with a user part carries a flow token: it must
 * verify (a forged or stale token is never followed: 403, RFC 5626 §5.3), and when it
 * names a flow other than the one the request arrived on, the request goes out over that
 * flow. A token naming the inbound flow is the UA's own side of the dialog and is only
 * popped, unless both sides' entries name it: two AORs behind one flow (a PBX, a multi-line
 * phone) in a dialog with each other, whose requests hairpin back over that flow. What is left
 * of the Route set, if anything, is the next hop.
 */
import { parseSipUri, type NameAddr, type SipRequest, type SipUri } from "@edgepath/sip";
import type { FlowDescriptor, FlowTokenCodec } from "@edgepath/flow-token";
import type { FlowInfo, TransportKind } from "@edgepath/transport";
import { defaultPort, uriTransport, type OwnAddresses } from "./addresses.js";
import { descriptorOf, isSameFlow } from "./flow.js";

export type RouteDecision =
  /** Our entries popped; send over this flow to the Request-URI (or next Route if any remain). */
  | { readonly kind: "flow"; readonly pop: number; readonly flow: FlowDescriptor; readonly rest: readonly NameAddr[] }
  /** Our entries popped (maybe none); the next hop is the first remaining Route. */
  | { readonly kind: "next-hop"; readonly pop: number; readonly uri: SipUri; readonly transport: TransportKind; readonly host: string; readonly port: number }
  /** No Route left: route on the Request-URI. */
  | { readonly kind: "request-uri"; readonly pop: number }
  | { readonly kind: "reject"; readonly status: number; readonly reason: string; readonly why: "bad-route" | "flow-token-malformed" | "flow-token-bad-signature" | "flow-token-bad-version" };

export function decideRoute(req: SipRequest, own: OwnAddresses, codec: FlowTokenCodec, inbound: FlowInfo): RouteDecision {
  const routes = req.routes();
  let pop = 0;
  let flow: FlowDescriptor | undefined;
  let inboundTokens = 0;
  while (pop < routes.length) {
    const entry = routes[pop]!;
    let uri: SipUri;
    try {
      uri = parseSipUri(entry.uri);
    } catch {
      if (pop === 0) return { kind: "reject", status: 400, reason: "Bad Header: Route", why: "bad-route" };
      break;
    }
    if (!own.isOwnUri(uri)) break;
    if (uri.user !== undefined) {
      const decoded = codec.decode(uri.user);
      // RFC 5626 §5.3: a token that does not verify is never followed (forged, or signed
      // with a secret no longer in use).
      if (!decoded.ok) return { kind: "reject", status: 403, reason: "Invalid Flow Token", why: `flow-token-${decoded.reason}` };
      if (!isSameFlow(decoded.flow, inbound)) flow = decoded.flow;
      else inboundTokens++;
    }
    pop++;
  }
  const rest = routes.slice(pop);
  // Our double Record-Route carries one token per side (RFC 5658): two naming the inbound flow
  // means both parties are on it (hairpin), so the request goes back out over it.
  if (flow === undefined && inboundTokens >= 2) flow = descriptorOf(inbound);
  if (flow !== undefined) return { kind: "flow", pop, flow, rest };
  const next = rest[0];
  if (next === undefined) return { kind: "request-uri", pop };
  let uri: SipUri;
  try {
    uri = parseSipUri(next.uri);
  } catch {
    return { kind: "reject", status: 400, reason: "Bad Header: Route", why: "bad-route" };
  }
  const maddr = uri.params.get("maddr");
  return {
    kind: "next-hop",
    pop,
    uri,
    transport: uriTransport(uri),
    host: maddr ?? uri.host,
    port: uri.port ?? defaultPort(uri.scheme, uri.params.get("transport") ?? undefined),
  };
}
