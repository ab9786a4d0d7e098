/**
 * The trust boundary on Route sets from the public side (DESIGN §6, issue 5: "Route sets that
 * point at internal addresses without a valid token are refused").
 *
 * Our internal addresses (this edge's internal socket, every registrar worker's, other edges')
 * sit behind the edge: a request arriving on them is trusted as coming from our own cluster
 * (relaying to non-local targets, trace context, the source stamp). A Route set written by a
 * stranger must not make the edge deliver a public request there (RFC 3261 §16.4 would
 * otherwise have us loose-route it, §26.3.2.1). Legitimate Route sets from the public side are
 * the reversed Record-Route sets edges wrote (RFC 5658 double Record-Route), and those have a
 * shape we can check without state:
 *
 * - Workers never Record-Route (DESIGN §2: workers are not in dialogs), so a Route entry
 *   naming a worker is always refused, wherever it sits in the set.
 * - Our own internal-side entry (`<sip:EDGE_INTERNAL;lr>`) is always adjacent to our
 *   public-side entry, which carries a flow token: popping our internal entry is only accepted
 *   when one of the entries we popped carried a token that verified.
 * - Another edge's internal entry as the next hop (a dialog that crosses two edges) is always
 *   followed by that edge's public-side entry with the flow token of its UA (signed with the
 *   cluster secret, so this edge can verify it). The far edge will pop its entries and send to
 *   that flow, never route on a Request-URI the stranger chose. Without it: refused.
 *
 * Pure: the EdgeProxy supplies which addresses are internal and the token codec. The rules that
 * need the resolved address or the sender live in EdgeProxy.onRequest next to this check: from
 * the public side a next hop must be another edge of ours (membership or its `;em=` mark), on the
 * internal socket only a worker may route anywhere but to a flow of ours, a token naming the
 * internal socket is never followed, and a new request goes over another party's flow only from
 * a worker.
 */
import { parseSipUri, type NameAddr, type SipUri } from "@edgepath/sip";
import type { FlowTokenCodec } from "@edgepath/flow-token";
import { defaultPort } from "./addresses.js";

export interface RouteTrustContext {
  /** host:port is one of our internal SIP sockets (this edge's, a worker's, another edge's). */
  isInternal(host: string, port: number): boolean;
  /** host:port is a registrar worker's internal socket. */
  isWorker(host: string, port: number): boolean;
  readonly codec: FlowTokenCodec;
}

export type RouteTrust =
  /** `internalHopAllowed`: the next hop may be internal (it is followed by a verified token). */
  | { readonly ok: true; readonly internalHopAllowed: boolean }
  | { readonly ok: false; readonly status: 403; readonly reason: string; readonly why: "route-to-worker" | "route-internal" };

const FORBIDDEN = "Forbidden Route";

/**
 * @param routes the request's Route set as received.
 * @param popped how many top entries are ours (decideRoute popped them; their tokens verified).
 * @param nextHop the entry at `popped` is the next hop the edge will send to.
 */
export function checkRouteTrust(routes: readonly NameAddr[], popped: number, nextHop: boolean, ctx: RouteTrustContext): RouteTrust {
  let internalPopped = false;
  let tokenPopped = false;
  for (let i = 0; i < routes.length; i++) {
    const uri = tryParse(routes[i]!.uri);
    if (uri === undefined) continue; // decideRoute answers 400 where an unparsable entry matters
    const port = uri.port ?? defaultPort(uri.scheme, uri.params.get("transport") ?? undefined);
    const maddr = uri.params.get("maddr");
    if (ctx.isWorker(uri.host, port) || (typeof maddr === "string" && ctx.isWorker(maddr, port))) {
      return { ok: false, status: 403, reason: FORBIDDEN, why: "route-to-worker" };
    }
    if (i < popped) {
      if (ctx.isInternal(uri.host, port)) internalPopped = true;
      // decideRoute rejects an entry of ours whose token does not verify, so a user part here is a good token.
      if (uri.user !== undefined) tokenPopped = true;
    }
  }
  if (internalPopped && !tokenPopped) return { ok: false, status: 403, reason: FORBIDDEN, why: "route-internal" };
  if (!nextHop) return { ok: true, internalHopAllowed: false };
  const allowed = verifiedToken(routes[popped + 1], ctx.codec);
  const next = tryParse(routes[popped]?.uri);
  if (next !== undefined && !allowed) {
    const port = next.port ?? defaultPort(next.scheme, next.params.get("transport") ?? undefined);
    const maddr = next.params.get("maddr");
    if (ctx.isInternal(next.host, port) || (typeof maddr === "string" && ctx.isInternal(maddr, port))) {
      return { ok: false, status: 403, reason: FORBIDDEN, why: "route-internal" };
    }
  }
  return { ok: true, internalHopAllowed: allowed };
}

function verifiedToken(entry: NameAddr | undefined, codec: FlowTokenCodec): boolean {
  const uri = tryParse(entry?.uri);
  return uri?.user !== undefined && codec.decode(uri.user).ok;
}

function tryParse(uri: string | undefined): SipUri | undefined {
  if (uri === undefined) return undefined;
  try {
    return parseSipUri(uri);
  } catch {
    return undefined;
  }
}
