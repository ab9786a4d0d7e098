import { describe, expect, it } from "vitest";
import { otelSettingsFromEnv, parseKeyValueList, tracesUrlFromBase } from "./env.js";

describe("OTEL_* settings", () => {
  it("is off without an OTLP endpoint (our rule: zero cost by default)", () => {
    const d = otelSettingsFromEnv({}, "edgepath-all");
    expect(d.enabled).toBe(false);
    expect(otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "   " }, "x").enabled).toBe(false);
  });

  it("OTLP spec: the base endpoint gets /v1/traces; the signal endpoint is used as is and wins", () => {
    const base = otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318/" }, "x");
    expect(base.enabled && base.settings.tracesUrl).toBe("http://jaeger:4318/v1/traces");
    const signal = otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9999/custom" }, "x");
    expect(signal.enabled && signal.settings.tracesUrl).toBe("http://b:9999/custom");
    expect(tracesUrlFromBase("http://c:4318")).toBe("http://c:4318/v1/traces");
  });

  it("OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off even with an endpoint", () => {
    expect(otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_SDK_DISABLED: "TRUE" }, "x").enabled).toBe(false);
    expect(otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_TRACES_EXPORTER: "none" }, "x").enabled).toBe(false);
  });

  it("a non-http endpoint is refused with a warning naming the setting", () => {
    const d = otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "jaeger:4317" }, "x");
    expect(d.enabled).toBe(false);
    expect(d.warnings.join("\n")).toContain("OTEL_EXPORTER_OTLP_ENDPOINT");
  });

  it("service.name: OTEL_SERVICE_NAME > OTEL_RESOURCE_ATTRIBUTES > the default", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318" };
    const pick = (e: Record<string, string>): string | false => {
      const d = otelSettingsFromEnv({ ...env, ...e }, "edgepath-edge");
      return d.enabled && d.settings.serviceName;
    };
    expect(pick({})).toBe("edgepath-edge");
    expect(pick({ OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs,k8s.pod.name=edge-0" })).toBe("from-attrs");
    expect(pick({ OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs", OTEL_SERVICE_NAME: "from-name" })).toBe("from-name");
  });

  it("samplers: the six spec names, ratio from OTEL_TRACES_SAMPLER_ARG, bad values fall back with a warning", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318" };
    const r = otelSettingsFromEnv({ ...env, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }, "x");
    expect(r.enabled && [r.settings.sampler, r.settings.samplerRatio]).toEqual(["parentbased_traceidratio", 0.25]);
    const def = otelSettingsFromEnv(env, "x");
    expect(def.enabled && def.settings.sampler).toBe("parentbased_always_on");
    const bad = otelSettingsFromEnv({ ...env, OTEL_TRACES_SAMPLER: "sometimes", OTEL_TRACES_SAMPLER_ARG: "2" }, "x");
    expect(bad.enabled && bad.settings.sampler).toBe("parentbased_always_on");
    expect(bad.warnings.some((w) => w.includes("OTEL_TRACES_SAMPLER=sometimes"))).toBe(true);
    const badArg = otelSettingsFromEnv({ ...env, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }, "x");
    expect(badArg.enabled && badArg.settings.samplerRatio).toBe(1);
    expect(badArg.warnings.some((w) => w.includes("OTEL_TRACES_SAMPLER_ARG"))).toBe(true);
  });

  it("headers: OTEL_EXPORTER_OTLP_HEADERS percent-decoded, the traces-specific list wins per key", () => {
    const d = otelSettingsFromEnv(
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_HEADERS: "authorization=Basic%20abc,x-a=1", OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-a=2" },
      "x",
    );
    expect(d.enabled && d.settings.headers).toEqual({ authorization: "Basic abc", "x-a": "2" });
  });

  it("parseKeyValueList skips malformed entries with a warning", () => {
    const warnings: string[] = [];
    expect(parseKeyValueList("a=1,,novalue,=x,b=%E0%A4%A", "OTEL_RESOURCE_ATTRIBUTES", warnings)).toEqual({ a: "1" });
    expect(warnings).toHaveLength(3);
  });

  it("a bad timeout is ignored with a warning", () => {
    const d = otelSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TIMEOUT: "soon" }, "x");
    expect(d.enabled && d.settings.timeoutMs).toBeUndefined();
    expect(d.warnings.join()).toContain("OTEL_EXPORTER_OTLP_TIMEOUT");
  });
});
