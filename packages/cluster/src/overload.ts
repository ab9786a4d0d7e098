/**
 * What the edge and the workers share for overload control (services/registrar/src/overload.ts,
 * services/edge/src/overload-feedback.ts): two parameters of the edge's own Via, which only they
 * read (the worker sees it on top of a request, the edge on top of the response, and the edge
 * removes it before the response goes on), and the Retry-After both put on their 503s.
 */

/**
 * When the edge forwarded the request to the worker (the edge's clock, epoch ms). The worker
 * subtracts it from its own clock to learn how long the request queued on the way.
 */
export const EDGE_SENT_AT_PARAM = "ts";

/**
 * Set (as a flag) by a worker on a 503 it sent because it is overloaded: the edge then turns a
 * share of new requests for that worker away itself.
 */
export const OVERLOAD_SIGNAL_PARAM = "shed";

/**
 * Retry-After (RFC 3261 §21.5.4) for a request refused by overload control, seconds: spread over
 * 1..5 so the UAs turned away together do not all come back in the same second.
 */
export function overloadRetryAfter(): number {
  return 1 + Math.floor(Math.random() * 5);
}
