/**
 * What the edge and the workers share for overload control (services/registrar/src/overload.ts):
 * the internal header in which an edge says when it forwarded a request to a worker, and the
 * Retry-After a worker puts on its refusals.
 *
 * The stamp is a header, not a Via parameter: the edge's Via stays in the request when a worker
 * proxies it back out through an edge, so a Via parameter would reach the callee; an internal
 * header is removed by the edge on the way out to the public side (and replaced on the way in),
 * like the trace and source-stamp headers (DESIGN §5, §6).
 *
 * The clock is monotonic (`performance.timeOrigin + performance.now()`: wall-clock epoch ms at
 * process start, then CLOCK_MONOTONIC), so an NTP step on either host during the processes' lives
 * cannot look like a queue or hide one. It is prefixed with an id drawn when the edge process
 * starts: the worker keeps one "no queue" baseline per (edge, process), so an edge restarted with
 * a different start-time error does not inherit the old baseline.
 */
import { randomBytes } from "node:crypto";

export const EDGE_SENT_AT_HEADER = "X-Edgepath-Sent-At";

/** This process's clock id (see the module comment). */
const CLOCK_ID = randomBytes(4).toString("hex");

/** Milliseconds on a clock that never steps, near the epoch (see the module comment). */
export function monotonicEpochMs(): number {
  return Math.round(performance.timeOrigin + performance.now());
}

/** The EDGE_SENT_AT_HEADER value for a request forwarded now: `<clock id>.<ms>`. */
export function edgeSentAtValue(): string {
  return `${CLOCK_ID}.${monotonicEpochMs()}`;
}

/** Reads an EDGE_SENT_AT_HEADER value; undefined when it is not one (nothing is then measured). */
export function parseEdgeSentAt(value: string): { clock: string; ms: number } | undefined {
  const dot = value.indexOf(".");
  if (dot <= 0 || dot > 16 || value.length - dot - 1 > 16) return undefined;
  for (let i = dot + 1; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const ms = Number(value.slice(dot + 1));
  if (!Number.isSafeInteger(ms) || ms <= 0) return undefined;
  return { clock: value.slice(0, dot), ms };
}

/**
 * Retry-After (RFC 3261 §20.33, on a 500 per §21.5.1) for a request refused by overload control,
 * seconds: spread over 1..5 so the UAs turned away together do not all come back in the same second.
 */
export function overloadRetryAfter(): number {
  return 1 + Math.floor(Math.random() * 5);
}
