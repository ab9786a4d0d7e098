/**
 * Trace context between our own hops (DESIGN §5): a SIP header on the internal side
 * (edge -> worker -> edge) and W3C headers on cluster-bus (NATS) messages.
 *
 * The SIP header is ours alone: edges remove it from everything that comes from or goes to the
 * public side, so an outside party can neither join our traces nor force sampling, and phones
 * never see it.
 */
import { ROOT_CONTEXT, trace, type Context, type Span } from "@opentelemetry/api";
import { formatTraceparent, parseTraceparent } from "./trace-context.js";

/** The internal SIP header that carries a W3C `traceparent` value between edgepath hops. */
export const TRACE_HEADER = "X-Edgepath-Trace";

/** W3C header names used on bus messages (readable by any OTel consumer). */
export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/** The internal SIP header value for a span: its `traceparent`, or undefined for a non-recording no-op span. */
export function traceHeaderValue(span: Span | undefined): string | undefined {
  if (span === undefined) return undefined;
  const sc = span.spanContext();
  return trace.isSpanContextValid(sc) ? formatTraceparent(sc) : undefined;
}

/** The parent context named by an internal SIP header value; ROOT_CONTEXT when absent or invalid. */
export function contextFromTraceHeader(value: string | undefined): Context {
  const sc = parseTraceparent(value);
  return sc === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, sc);
}

/** Headers for a bus publish that continue `span`'s trace; undefined when there is nothing to carry. */
export function busTraceHeaders(span: Span | undefined): Record<string, string> | undefined {
  const value = traceHeaderValue(span);
  if (value === undefined) return undefined;
  const state = span?.spanContext().traceState?.serialize();
  return state !== undefined && state !== "" ? { [TRACEPARENT]: value, [TRACESTATE]: state } : { [TRACEPARENT]: value };
}

/** The parent context carried by a bus message's headers; ROOT_CONTEXT when none. */
export function contextFromBusHeaders(headers: ReadonlyMap<string, string> | undefined): Context {
  if (headers === undefined) return ROOT_CONTEXT;
  const sc = parseTraceparent(headers.get(TRACEPARENT), headers.get(TRACESTATE));
  return sc === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, sc);
}
