/**
 * The SDK half, loaded only when tracing is on (a dynamic import from `startTelemetry`), so a
 * process with tracing off never loads the SDK or the exporter.
 *
 * NodeTracerProvider (AsyncLocalStorage context manager, W3C propagator) + BatchSpanProcessor +
 * OTLP/HTTP JSON exporter (otlp-http-exporter.ts): the trace part of what `@opentelemetry/sdk-node` sets up, without its
 * gRPC/protobuf exporters and the auto-instrumentation loader (which needs ESM loader hooks).
 */
import { diag, DiagLogLevel, type DiagLogger } from "@opentelemetry/api";
import { setGlobalErrorHandler } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from "@opentelemetry/sdk-trace-node";
import type { OtelSettings } from "./env.js";
import { OtlpHttpJsonExporter } from "./otlp-http-exporter.js";

export interface SdkHandle {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface SdkOptions {
  readonly settings: OtelSettings;
  readonly serviceInstanceId: string | undefined;
  readonly serviceVersion: string | undefined;
  readonly warn: (message: string, err?: unknown) => void;
}

export function samplerFor(s: OtelSettings): Sampler {
  switch (s.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(s.samplerRatio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.samplerRatio) });
  }
}

export function startSdk(o: SdkOptions): SdkHandle {
  const s = o.settings;
  // OTel's own diagnostics and export failures go to our logger, never thrown into the app
  // (CONVENTIONS §9, after opentelemetry-js global-error-handler.ts).
  const logger: DiagLogger = {
    error: (msg, ...args) => o.warn(`otel: ${msg}`, args[0]),
    warn: (msg, ...args) => o.warn(`otel: ${msg}`, args[0]),
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  setGlobalErrorHandler((err) => o.warn("otel: export error", err));

  const attributes: Record<string, string> = { ...s.resourceAttributes, "service.name": s.serviceName };
  if (o.serviceInstanceId !== undefined) attributes["service.instance.id"] = o.serviceInstanceId;
  if (o.serviceVersion !== undefined) attributes["service.version"] = o.serviceVersion;

  const exporter = new OtlpHttpJsonExporter({
    url: s.tracesUrl,
    headers: s.headers,
    ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
  });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attributes),
    sampler: samplerFor(s),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
