/**
 * Path insertion: the one place where the edge decides on and builds its Path entry.
 *
 * RFC 3327 §5.2: a proxy that needs to stay on the path of requests toward the UA inserts
 * its URI at the top of Path on the REGISTER. Ours is `<sip:TOKEN@INTERNAL;lr[;ob]>`:
 * the internal advertised address (workers reach the edge there), the flow token of the
 * UA's flow as user part (DESIGN §2 step 3), `lr` (loose routing, RFC 3261 §19.1.1).
 *
 * `ob` (RFC 5626 §5.1): an Edge Proxy that is the first hop (the REGISTER has exactly one
 * Via: the UA's) and receives a REGISTER whose Contact carries `reg-id` adds the `ob` URI
 * parameter to its Path URI; it tells the registrar that this first hop keeps the flow,
 * so outbound processing applies (RFC 5626 §6). Behind another proxy we are not the
 * outbound edge, and without `reg-id` the UA did not ask for outbound: no `ob`.
 *
 * A UA without `Supported: path`: RFC 3327 §5.2 says the proxy SHOULD NOT insert Path,
 * and SHOULD answer 421 when it needs Path. An edge in front of NATed phones always needs
 * it (without it no request can reach the phone), and the registrar behind it is ours and
 * supports Path, so by default we insert anyway — what Kamailio's `add_path` does — and
 * the registrar never echoes Path to such a UA (RFC 3327 §5.3). Operators who want the
 * letter of §5.2 set the policy to "reject" and the edge answers 421 with `Require: path`.
 */
import type { SipRequest } from "@edgepath/sip";
import { formatHostPort, type HostPort } from "./addresses.js";

export type PathPolicy = "insert" | "reject";

export type PathDecision =
  | { readonly insert: true; readonly outbound: boolean }
  | { readonly insert: false; readonly status: 421; readonly reason: string; readonly headers: ReadonlyArray<readonly [string, string]> };

export function decidePath(req: SipRequest, policy: PathPolicy): PathDecision {
  if (policy === "reject" && !req.supported().includes("path")) {
    return { insert: false, status: 421, reason: "Extension Required", headers: [["Require", "path"]] };
  }
  return { insert: true, outbound: isOutboundRegistration(req) };
}

/** RFC 5626 §5.1: first hop (one Via) and a Contact with `reg-id` (RFC 5626 §4.2). */
function isOutboundRegistration(req: SipRequest): boolean {
  if (req.vias().length !== 1) return false;
  const contacts = req.contacts();
  if (contacts === "*" || contacts.length === 0) return false;
  return contacts.some((c) => c.regId !== undefined);
}

export function pathValue(flowToken: string, internal: HostPort, outbound: boolean): string {
  return `<sip:${flowToken}@${formatHostPort(internal)};lr${outbound ? ";ob" : ""}>`;
}
