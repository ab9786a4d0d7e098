/**
 * Branches of a stateless proxy (RFC 3261 §16.11) with loop detection (§16.3 step 4,
 * §16.6 step 8).
 *
 * Our branch is `z9hG4bKep` + TX + `.` + LOOP:
 * - TX (§16.11, the "first component"): a hash of the received top Via branch and sent-by
 *   when it carries the magic cookie, else of the top Via, To tag, From tag, Call-ID, CSeq
 *   number and Request-URI. A retransmission maps to the same branch; a CANCEL or a non-2xx
 *   ACK, which carry the INVITE's top Via branch, get the INVITE's TX part.
 * - LOOP (§16.6 step 8): a hash of what decides where the request goes: the Request-URI and
 *   Route set as received, Call-ID, From tag and CSeq number. It does not depend on the
 *   top Via, so a request that comes back to us unchanged through another hop has the
 *   same LOOP value as the Via we put on it the first time: a loop (482). A request that
 *   comes back with a different Request-URI or Route set is a spiral and goes on.
 *   The To tag and CSeq method are left out on purpose: the ACK for a non-2xx response
 *   has a To tag its INVITE lacked, and must still get the INVITE's branch (§17.1.1.3).
 */
import { hash } from "node:crypto";
import { BRANCH_MAGIC_COOKIE, type SipRequest, type Via } from "@edgepath/sip";

/** Our branches carry this marker after the cookie so we recognise them in loops and responses. */
export const EDGE_BRANCH_PREFIX = `${BRANCH_MAGIC_COOKIE}ep`;
const LOOP_SEPARATOR = ".";

/** The loop-detection component for this request as received (RFC 3261 §16.6 step 8). */
// Both hashes are one-shot `crypto.hash` over one string (the same bytes the former
// update() sequence fed in, so the same digests): one call into native code per hash
// instead of one per field, on every request the edge forwards.
export function loopHash(req: SipRequest, salt: string): string {
  let s = `${salt}\0${req.uri}\0`;
  for (const r of req.routes()) s += `${r.uri},`;
  s += `\0${req.callId}\0${req.fromTag() ?? ""}\0${req.cseq().seq}`;
  return hash("sha256", s, "base64url").slice(0, 12);
}

export function statelessBranch(req: SipRequest, topVia: Via, salt: string, loop: string = loopHash(req, salt)): string {
  const s = topVia.branch?.startsWith(BRANCH_MAGIC_COOKIE)
    ? `${salt}\0${topVia.branch}\0${topVia.host}\0${topVia.port ?? 0}`
    : `${salt}\0${req.callId}\0${req.cseq().seq}\0${req.fromTag() ?? ""}\0${req.toTag() ?? ""}\0${req.uri}\0${topVia.raw}`;
  return `${EDGE_BRANCH_PREFIX}${hash("sha256", s, "base64url").slice(0, 22)}${LOOP_SEPARATOR}${loop}`;
}

/** The LOOP component of one of our branches, or undefined when the branch is not ours. */
export function loopPartOf(branch: string | undefined): string | undefined {
  if (branch === undefined || !branch.startsWith(EDGE_BRANCH_PREFIX)) return undefined;
  const dot = branch.lastIndexOf(LOOP_SEPARATOR);
  return dot < 0 ? undefined : branch.slice(dot + 1);
}
