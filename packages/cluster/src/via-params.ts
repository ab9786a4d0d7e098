/**
 * Parameters an edge and a worker put in the edge's own Via, which only they read: the worker
 * sees it on top of a request, the edge on top of the response, and the edge removes it before
 * the response goes on. Both serve overload control (services/registrar/src/overload.ts,
 * services/edge/src/overload-feedback.ts).
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
