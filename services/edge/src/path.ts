/**
 * Path insertion: the one place where the edge decides on and builds its Path entry.
 *
 * RFC 3327 §5.2: a proxy that needs to stay on the path of requests toward the UA inserts
 * its URI at the top of Path on the REGISTER. Ours is `<sip:TOKEN@INTERNAL;lr[;ob]>`:
 * the internal advertised address (workers reach the edge there), the flow token of the
 * UA's flow as user part (DESIGN §2 step 3), `lr` (loose routing, RFC 3261 §19.1.1).
 *
 * `ob` (RFC 5626 §5.1): "the Edge Proxy MUST add the 'ob' URI parameter to its Path URI"
 * when the REGISTER is an outbound registration, i.e. its Contact carries `reg-id` and
 * `+sip.instance` — it tells the registrar that this first hop supports outbound.
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

/** RFC 5626 §4.2: an outbound REGISTER has Contacts with both +sip.instance and reg-id. */
function isOutboundRegistration(req: SipRequest): boolean {
  const contacts = req.contacts();
  if (contacts === "*" || contacts.length === 0) return false;
  return contacts.every((c) => c.regId !== undefined && c.instance !== undefined);
}

export function pathValue(flowToken: string, internal: HostPort, outbound: boolean): string {
  return `<sip:${flowToken}@${formatHostPort(internal)};lr${outbound ? ";ob" : ""}>`;
}
