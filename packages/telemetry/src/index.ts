export { startTelemetry } from "./setup.js";
export type { Telemetry, TelemetryOptions } from "./setup.js";
export { otelSettingsFromEnv, parseKeyValueList, tracesUrlFromBase, SamplerNames } from "./env.js";
export type { Env, OtelDecision, OtelSettings, SamplerName } from "./env.js";
export { tracingEnabled } from "./state.js";
export { formatTraceparent, parseTraceparent } from "./trace-context.js";
export {
  TRACE_HEADER,
  TRACEPARENT,
  TRACESTATE,
  traceHeaderValue,
  contextFromTraceHeader,
  busTraceHeaders,
  contextFromBusHeaders,
} from "./propagation.js";
export { TRACER_NAME, SipAttr, SpanKind, edgepathTracer, startSpan, endSipSpan, withSpan, activeSpan, traceAsyncMethods } from "./spans.js";
export type { Span, Context, Attributes } from "@opentelemetry/api";
