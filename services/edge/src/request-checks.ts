/**
 * Request validation a proxy does before forwarding (RFC 3261 §16.3). Pure functions:
 * they decide, the proxy acts. Parse errors (400/505/416/513) come from @edgepath/sip.
 */
import type { SipRequest } from "@edgepath/sip";
import { loopPartOf } from "./stateless-branch.js";

export interface Rejection {
  readonly status: number;
  readonly reason: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** Option tags this edge implements, for Proxy-Require (RFC 3261 §16.3 step 6). */
export const EDGE_SUPPORTED: readonly string[] = ["path", "outbound"];

/** RFC 3261 §16.3 step 3; OPTIONS to ourselves is answered before this check. */
export function checkMaxForwards(req: SipRequest): Rejection | undefined {
  const mf = req.maxForwards();
  if (mf !== undefined && mf <= 0) return { status: 483, reason: "Too Many Hops" };
  return undefined;
}

/** RFC 3261 §16.3 step 6 / §20.29: 420 listing what we do not support in Unsupported. */
export function checkProxyRequire(req: SipRequest): Rejection | undefined {
  const required = req.proxyRequire();
  if (required.length === 0) return undefined;
  const unsupported = required.filter((tag) => !EDGE_SUPPORTED.includes(tag));
  if (unsupported.length === 0) return undefined;
  return { status: 420, reason: "Bad Extension", headers: [["Unsupported", unsupported.join(", ")]] };
}

/**
 * RFC 3261 §16.3 step 4 (loop detection): the request carries a Via of ours whose LOOP
 * component (see stateless-branch.ts) equals the one computed for the request now: it has
 * come back with the same Request-URI, Route set and identity, so forwarding it again would
 * go round forever. A Via of ours with another LOOP value is a spiral, which is legal
 * (e.g. a worker sending a request back through us towards a Path).
 */
export function checkLoop(req: SipRequest, isOwnSentBy: (host: string, port: number) => boolean, loop: string): Rejection | undefined {
  for (const via of req.vias()) {
    if (loopPartOf(via.branch) === loop && isOwnSentBy(via.host, via.port ?? 5060)) return { status: 482, reason: "Loop Detected" };
  }
  return undefined;
}
