/**
 * Request validation a proxy does before forwarding (RFC 3261 §16.3). Pure functions:
 * they decide, the proxy acts. Parse errors (400/505/416/513) come from @edgepath/sip.
 */
import type { SipRequest } from "@edgepath/sip";

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
 * RFC 3261 §16.3 step 4 (loop detection): the request already carries a Via of ours with
 * the branch we would give it now: it has come back unchanged. A Via of ours with another
 * branch is a spiral, which is legal.
 */
export function checkLoop(req: SipRequest, isOwnSentBy: (host: string, port: number) => boolean, branch: string): Rejection | undefined {
  const vias = req.vias();
  if (vias.length < 2) return undefined;
  for (const via of vias) {
    if (via.branch === branch && isOwnSentBy(via.host, via.port ?? 5060)) return { status: 482, reason: "Loop Detected" };
  }
  return undefined;
}
