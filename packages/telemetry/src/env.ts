/**
 * The standard OTEL_* settings we honour, read once from an env record (CONVENTIONS §9: the
 * entry point passes `process.env`; nothing here reads it). Pure, so it is unit-tested without an SDK.
 *
 * Spec: OpenTelemetry "Environment Variable Specification" and "OTLP Exporter Configuration".
 * Tracing is OFF unless an OTLP endpoint is set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
 * OTEL_EXPORTER_OTLP_ENDPOINT) — our own rule, so a laptop run costs nothing.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export const SamplerNames = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"] as const;
export type SamplerName = (typeof SamplerNames)[number];

export interface OtelSettings {
  /** Full URL the exporter POSTs to (…/v1/traces). */
  readonly tracesUrl: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number | undefined;
  readonly serviceName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: SamplerName;
  /** OTEL_TRACES_SAMPLER_ARG for the ratio samplers, in [0, 1]. */
  readonly samplerRatio: number;
}

export type OtelDecision =
  | { readonly enabled: false; readonly why: string; readonly warnings: readonly string[] }
  | { readonly enabled: true; readonly settings: OtelSettings; readonly warnings: readonly string[] };

function read(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/**
 * `key1=value1,key2=value2` with percent-encoded values (W3C Baggage octets), as used by
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS. Bad entries are skipped with a warning.
 */
export function parseKeyValueList(raw: string | undefined, setting: string, warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const key = eq > 0 ? part.slice(0, eq).trim() : "";
    if (key === "") {
      warnings.push(`${setting}: entry "${part.trim()}" is not key=value, ignored`);
      continue;
    }
    const rawValue = part.slice(eq + 1).trim();
    try {
      out[key] = decodeURIComponent(rawValue);
    } catch {
      warnings.push(`${setting}: value of "${key}" is not valid percent-encoding, ignored`);
    }
  }
  return out;
}

/** OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the signal path is appended (spec: "/v1/traces"). */
export function tracesUrlFromBase(base: string): string {
  return `${base.endsWith("/") ? base.slice(0, -1) : base}/v1/traces`;
}

export function otelSettingsFromEnv(env: Env, defaultServiceName: string): OtelDecision {
  const warnings: string[] = [];
  if (read(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return { enabled: false, why: "OTEL_SDK_DISABLED=true", warnings };
  const exporters = read(env, "OTEL_TRACES_EXPORTER");
  if (exporters !== undefined) {
    const list = exporters.split(",").map((s) => s.trim().toLowerCase());
    if (list.includes("none")) return { enabled: false, why: "OTEL_TRACES_EXPORTER=none", warnings };
    if (!list.includes("otlp")) warnings.push(`OTEL_TRACES_EXPORTER=${exporters}: only "otlp" is supported, using otlp`);
  }
  const signalUrl = read(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = read(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  const tracesUrl = signalUrl ?? (base !== undefined ? tracesUrlFromBase(base) : undefined);
  if (tracesUrl === undefined) return { enabled: false, why: "no OTEL_EXPORTER_OTLP_ENDPOINT", warnings };
  try {
    const u = new URL(tracesUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    warnings.push(`OTEL_EXPORTER_OTLP_${signalUrl !== undefined ? "TRACES_" : ""}ENDPOINT: "${tracesUrl}" is not an http(s) URL; tracing off`);
    return { enabled: false, why: "bad OTLP endpoint", warnings };
  }
  const protocol = read(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? read(env, "OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol !== undefined && protocol !== "http/json") {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: this build exports OTLP/HTTP with JSON bodies (http/json); Jaeger and the Collector accept it on :4318`);
  }
  const headers = {
    ...parseKeyValueList(read(env, "OTEL_EXPORTER_OTLP_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS", warnings),
    ...parseKeyValueList(read(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"), "OTEL_EXPORTER_OTLP_TRACES_HEADERS", warnings),
  };
  const timeoutRaw = read(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") ?? read(env, "OTEL_EXPORTER_OTLP_TIMEOUT");
  let timeoutMs: number | undefined;
  if (timeoutRaw !== undefined) {
    const n = Number(timeoutRaw);
    if (Number.isInteger(n) && n > 0) timeoutMs = n;
    else warnings.push(`OTEL_EXPORTER_OTLP_TIMEOUT=${timeoutRaw}: not a positive integer (ms), using the default`);
  }
  const resourceAttributes = parseKeyValueList(read(env, "OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES", warnings);
  // Spec: OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
  const serviceName = read(env, "OTEL_SERVICE_NAME") ?? resourceAttributes["service.name"] ?? defaultServiceName;

  let sampler: SamplerName = "parentbased_always_on";
  const samplerRaw = read(env, "OTEL_TRACES_SAMPLER")?.toLowerCase();
  if (samplerRaw !== undefined) {
    if ((SamplerNames as readonly string[]).includes(samplerRaw)) sampler = samplerRaw as SamplerName;
    else warnings.push(`OTEL_TRACES_SAMPLER=${samplerRaw}: unknown sampler (one of ${SamplerNames.join(", ")}), using parentbased_always_on`);
  }
  let samplerRatio = 1;
  const argRaw = read(env, "OTEL_TRACES_SAMPLER_ARG");
  if (argRaw !== undefined && sampler.endsWith("traceidratio")) {
    const r = Number(argRaw);
    if (Number.isFinite(r) && r >= 0 && r <= 1) samplerRatio = r;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${argRaw}: not a ratio in [0, 1], using 1`);
  }
  return { enabled: true, settings: { tracesUrl, headers, timeoutMs, serviceName, resourceAttributes, sampler, samplerRatio }, warnings };
}
