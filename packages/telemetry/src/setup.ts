/**
 * The one set-up call for services (CONVENTIONS "What to avoid": one telemetry package, one
 * set-up call). Entry points call `startTelemetry` once, before composing the services.
 *
 * - Configured by the standard OTEL_* variables (see env.ts); OFF when no OTLP endpoint is set:
 *   then nothing is loaded, no provider is registered and `tracingEnabled()` stays false, so
 *   every tracing branch in the SIP path is skipped.
 * - Never throws: a bad setting or an SDK failure is reported through `onWarning` and leaves
 *   tracing off; export failures at run time are reported the same way.
 */
import { context, diag, propagation, trace } from "@opentelemetry/api";
import { otelSettingsFromEnv, type Env } from "./env.js";
import { setTracingEnabled } from "./state.js";

export interface TelemetryOptions {
  /** The environment to read OTEL_* from (the entry point passes process.env). */
  readonly env: Env;
  /** service.name when OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES do not set one. */
  readonly serviceName: string;
  readonly serviceInstanceId?: string;
  readonly serviceVersion?: string;
  /** Warnings about settings and export failures. Default: ignored. */
  readonly onWarning?: (message: string, err?: unknown) => void;
}

export interface Telemetry {
  readonly enabled: boolean;
  /** Why tracing is off (when it is). */
  readonly disabledReason: string | undefined;
  readonly tracesUrl: string | undefined;
  readonly serviceName: string | undefined;
  /** Exports what is buffered (tests, before exit). Never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and unregisters the provider. Never rejects. */
  shutdown(): Promise<void>;
}

function off(why: string): Telemetry {
  return {
    enabled: false,
    disabledReason: why,
    tracesUrl: undefined,
    serviceName: undefined,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  const warn = (message: string, err?: unknown): void => {
    try {
      opts.onWarning?.(message, err);
    } catch {
      // a logger that throws must not take the app down either
    }
  };
  try {
    const decision = otelSettingsFromEnv(opts.env, opts.serviceName);
    for (const w of decision.warnings) warn(w);
    if (!decision.enabled) return off(decision.why);
    const { startSdk } = await import("./sdk.js");
    const handle = startSdk({
      settings: decision.settings,
      serviceInstanceId: opts.serviceInstanceId,
      serviceVersion: opts.serviceVersion,
      warn,
    });
    setTracingEnabled(true);
    let stopped = false;
    return {
      enabled: true,
      disabledReason: undefined,
      tracesUrl: decision.settings.tracesUrl,
      serviceName: decision.settings.serviceName,
      forceFlush: () => handle.forceFlush().catch((err: unknown) => warn("otel: flush failed", err)),
      async shutdown() {
        if (stopped) return;
        stopped = true;
        setTracingEnabled(false);
        await handle.shutdown().catch((err: unknown) => warn("otel: shutdown failed", err));
        trace.disable();
        context.disable();
        propagation.disable();
        diag.disable();
      },
    };
  } catch (err) {
    warn("otel: tracing set-up failed, tracing is off", err);
    setTracingEnabled(false);
    return off("set-up failed");
  }
}
