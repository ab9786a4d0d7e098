/**
 * Span helpers shared by the services: one tracer, the attribute names of a SIP span, and a
 * wrapper that turns a store's async calls into child spans. Only `@opentelemetry/api` here:
 * with no SDK set up every call lands on the API's no-op implementation.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";

export const TRACER_NAME = "edgepath";

/** Span attribute names (DESIGN §5, issue 6). */
export const SipAttr = {
  method: "sip.method",
  statusCode: "sip.status_code",
  aor: "sip.aor",
  callId: "sip.call_id",
  transport: "net.transport",
  flow: "edgepath.flow",
  worker: "edgepath.worker",
  edge: "edgepath.edge",
} as const;

export { SpanKind };

/**
 * The edgepath tracer. Not cached here: a ProxyTracer keeps the first provider it delegated to,
 * so a cached one would outlive a shutdown + new set-up; the SDK caches tracers by name itself.
 */
export function edgepathTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** Starts a span as a child of `parent` (a context from a header, or the active one). */
export function startSpan(name: string, kind: SpanKind, attributes: Attributes, parent: Context = context.active()): Span {
  return edgepathTracer().startSpan(name, { kind, attributes }, parent);
}

/**
 * Ends a SIP span with its final status: RFC 3261 §21 classes, 5xx/6xx and transport failures
 * mark the span as an error (a 4xx is an answer, not a fault of ours — OTel semconv for servers).
 */
export function endSipSpan(span: Span | undefined, status?: number, error?: string): void {
  if (span === undefined) return;
  if (status !== undefined) span.setAttribute(SipAttr.statusCode, status);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  else if (status !== undefined && status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** Runs `fn` with `span` as the active span (so calls inside, e.g. store calls, become children). */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  if (span === undefined) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** The active span, if any. */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}

/**
 * Wraps the named async methods of `target` so each call is a CLIENT child span of the active
 * span (`<prefix>.<method>`), errors recorded. Other members pass through unchanged. Used for the
 * binding store, whose Redis implementation makes one round trip (one Lua script) per call.
 */
export function traceAsyncMethods<T extends object>(target: T, prefix: string, methods: readonly (keyof T & string)[], attributes: Attributes = {}): T {
  const wrapped = new Map<string | symbol, unknown>();
  for (const name of methods) {
    const fn = target[name];
    if (typeof fn !== "function") continue;
    const original = fn as (...args: unknown[]) => Promise<unknown>;
    const spanName = `${prefix}.${name}`;
    wrapped.set(name, function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const span = edgepathTracer().startSpan(spanName, { kind: SpanKind.CLIENT, attributes });
      let p: Promise<unknown>;
      try {
        p = Promise.resolve(original.apply(target, args));
      } catch (err) {
        p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return p.then(
        (v) => {
          span.end();
          return v;
        },
        (err: unknown) => {
          span.recordException(err instanceof Error ? err : String(err));
          span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
          span.end();
          throw err;
        },
      );
    });
  }
  return new Proxy(target, {
    get(t, prop) {
      const w = wrapped.get(prop);
      if (w !== undefined) return w;
      const v: unknown = Reflect.get(t, prop);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
