/**
 * Transaction matching keys (pure functions, no allocation beyond the key string).
 *
 * Client side, RFC 3261 §17.1.3: a response matches a client transaction "if the response has the same value
 * of the branch parameter in the top Via header field as the branch parameter in the top Via header field of
 * the request that created the transaction" and "if the method parameter in the CSeq header field matches the
 * method of the request that created the transaction. The method is needed since a CANCEL request
 * constitutes a different transaction, but shares the same value of the branch parameter."
 *
 * Server side, RFC 3261 §17.2.3: with a branch that begins with the magic cookie "z9hG4bK", a request matches
 * when "the branch parameter in the request is equal to the one in the top Via header field of the request
 * that created the transaction, the sent-by value in the top Via of the request is equal to the one in the
 * request that created the transaction, and the method of the request matches the one that created the
 * transaction, except for ACK, where the method of the request that created the transaction is INVITE."
 * Without the cookie (RFC 2543 peers) the fallback compares Request-URI, From tag, Call-ID, CSeq number and
 * the whole top Via; the To tag is checked by the layer (the INVITE's own To tag for INVITE retransmissions,
 * the tag of the response we sent for the ACK).
 */
import { BRANCH_MAGIC_COOKIE, ownedString } from "@edgepath/sip";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import type { SendTarget } from "./types.js";

const SEP = "\u0000";

/** Key a client transaction is filed under; undefined when the response/request has no branch. */
export function clientKey(branch: string | undefined, cseqMethod: string): string | undefined {
  if (branch === undefined || branch === "") return undefined;
  return branch + SEP + cseqMethod;
}

export function clientKeyOfResponse(res: SipResponse): string | undefined {
  return clientKey(res.topVia().branch, res.cseq().method);
}

export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(BRANCH_MAGIC_COOKIE) && branch.length > BRANCH_MAGIC_COOKIE.length;
}

/**
 * The server-side key of `req`, as the transaction it belongs to was filed. `methodOverride` lets the CANCEL
 * lookup (§9.2) compute the key of the INVITE it targets; ACK maps to INVITE (§17.2.3).
 */
export function serverKey(req: SipRequest, methodOverride?: string): string {
  const method = methodOverride ?? (req.method === "ACK" ? "INVITE" : req.method);
  const via = req.topVia();
  if (isRfc3261Branch(via.branch)) {
    // sent-by = host [ ":" port ]; hosts compare case-insensitively (§19.1.4 by analogy, §20.42).
    return via.branch + SEP + via.host.toLowerCase() + SEP + (via.port ?? "") + SEP + method;
  }
  // RFC 2543 fallback, §17.2.3.
  const topVia = req.headerValues("via")[0] ?? "";
  return "2543" + SEP + req.uri + SEP + (req.fromTag() ?? "") + SEP + req.callId + SEP + req.cseq().seq + SEP + topVia + SEP + method;
}

const TARGETS = new Map<string, SendTarget>();
const TARGETS_MAX = 4096;

/**
 * One shared, frozen SendTarget per (transport, address, port). A transaction keeps its target for its
 * whole life (32 s on UDP), and the TU usually builds it from the request: the address is then a slice of
 * the message text (a Via host or `received` of 13 characters or more is a V8 view of its parent string),
 * which would keep the whole request alive after the transaction released it. A worker talks to a few
 * edges, so a handful of entries serve every transaction; the cache starts over when it is full.
 */
export function ownTarget(t: SendTarget): SendTarget {
  const key = t.transport + SEP + t.address + SEP + t.port;
  const hit = TARGETS.get(key);
  if (hit !== undefined) return hit;
  if (TARGETS.size >= TARGETS_MAX) TARGETS.clear();
  const owned: SendTarget = Object.freeze({ transport: t.transport, address: ownedString(t.address), port: t.port });
  TARGETS.set(ownedString(key), owned);
  return owned;
}
