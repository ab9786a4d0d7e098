/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/ §3.2), as a pure codec.
 *
 * We carry it ourselves instead of going through the global propagator so the SIP hot path
 * does one string concatenation / one fixed-layout parse, and so libraries depend on
 * `@opentelemetry/api` only (CONVENTIONS §2). The same value is what `W3CTraceContextPropagator`
 * reads and writes, so NATS headers stay readable by any OTel consumer.
 */
import { TraceFlags, isSpanContextValid, type SpanContext } from "@opentelemetry/api";

const HEX_RE = /^[0-9a-f]+$/;

/** `00-<trace-id>-<parent-id>-<flags>` for a span context (§3.2.2). */
export function formatTraceparent(sc: SpanContext): string {
  const flags = sc.traceFlags & TraceFlags.SAMPLED ? "01" : "00";
  return `00-${sc.traceId}-${sc.spanId}-${flags}`;
}

/**
 * Parses a `traceparent` value into a remote span context, or `undefined` when it is not valid
 * (§3.2.2 / §4.3: an invalid traceparent is ignored and a new trace starts).
 * - version `ff` is invalid; version `00` must be exactly 55 characters;
 * - a higher version may carry more fields after a `-` (§4.3 "parse the first four fields");
 * - ids are lowercase hex and not all zeros.
 */
export function parseTraceparent(value: string | undefined, traceState?: string): SpanContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v.length < 55) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined; // "-"
  const version = v.slice(0, 2);
  if (!HEX_RE.test(version) || version === "ff") return undefined;
  if (version === "00" ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX_RE.test(traceId) || !HEX_RE.test(spanId) || !HEX_RE.test(flags)) return undefined;
  const sc: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  if (!isSpanContextValid(sc)) return undefined; // all-zero ids (§3.2.2.3, §3.2.2.4)
  if (traceState !== undefined && traceState !== "") {
    // Kept opaque: we never interpret vendor entries, only pass them along.
    return { ...sc, traceState: opaqueTraceState(traceState) };
  }
  return sc;
}

/** A TraceState that carries a header value through unchanged (we add no entries of our own). */
function opaqueTraceState(raw: string): NonNullable<SpanContext["traceState"]> {
  const state: NonNullable<SpanContext["traceState"]> = {
    set: () => state,
    unset: () => state,
    get: (key) => {
      for (const part of raw.split(",")) {
        const eq = part.indexOf("=");
        if (eq > 0 && part.slice(0, eq).trim() === key) return part.slice(eq + 1).trim();
      }
      return undefined;
    },
    serialize: () => raw,
  };
  return state;
}
