/**
 * RFC 3261 §16.11: a stateless proxy computes its Via branch deterministically so that a
 * retransmission of a request maps to the same branch, and a CANCEL or a non-2xx ACK gets
 * the branch of the INVITE it belongs to (they carry the same top Via branch). For a
 * request with an RFC 3261 branch (magic cookie) the incoming branch plus sent-by is
 * unique; for RFC 2543 clients we hash what §16.11 lists (Call-ID, CSeq number, From tag,
 * To tag, Request-URI, top Via).
 */
import { createHash } from "node:crypto";
import { BRANCH_MAGIC_COOKIE, type SipRequest, type Via } from "@edgepath/sip";

/** Our branches carry this marker after the cookie so we recognise them in loops. */
export const EDGE_BRANCH_PREFIX = `${BRANCH_MAGIC_COOKIE}ep`;

export function statelessBranch(req: SipRequest, topVia: Via, salt: string): string {
  const h = createHash("sha256");
  h.update(salt);
  if (topVia.branch?.startsWith(BRANCH_MAGIC_COOKIE)) {
    h.update(topVia.branch);
    h.update(topVia.host);
    h.update(String(topVia.port ?? 0));
  } else {
    h.update(req.callId);
    h.update(String(req.cseq().seq));
    h.update(req.fromTag() ?? "");
    h.update(req.toTag() ?? "");
    h.update(req.uri);
    h.update(topVia.raw);
  }
  return EDGE_BRANCH_PREFIX + h.digest("base64url").slice(0, 22);
}
