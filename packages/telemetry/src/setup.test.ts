import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { trace } from "@opentelemetry/api";
import { startTelemetry, type Telemetry } from "./setup.js";
import { tracingEnabled } from "./state.js";
import { busTraceHeaders, contextFromBusHeaders, contextFromTraceHeader, traceHeaderValue } from "./propagation.js";
import { SpanKind, startSpan, traceAsyncMethods, withSpan } from "./spans.js";

let t: Telemetry | undefined;
afterEach(async () => {
  await t?.shutdown();
  t = undefined;
});

describe("startTelemetry", () => {
  it("off without an endpoint: nothing registered, spans are non-recording, no header value", async () => {
    t = await startTelemetry({ env: {}, serviceName: "x" });
    expect(t.enabled).toBe(false);
    expect(t.disabledReason).toContain("OTEL_EXPORTER_OTLP_ENDPOINT");
    expect(tracingEnabled()).toBe(false);
    const span = startSpan("s", SpanKind.SERVER, {});
    expect(span.isRecording()).toBe(false);
    expect(traceHeaderValue(span)).toBeUndefined();
    expect(busTraceHeaders(span)).toBeUndefined();
  });

  it("never throws: a throwing warning sink and a bad endpoint leave tracing off", async () => {
    t = await startTelemetry({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "::not a url::" },
      serviceName: "x",
      onWarning: () => {
        throw new Error("logger broke");
      },
    });
    expect(t.enabled).toBe(false);
  });

  it("export failures (nobody listening) are reported as warnings, not thrown", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const addr = probe.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    await new Promise<void>((r) => probe.close(() => r()));
    const warnings: string[] = [];
    t = await startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, serviceName: "x", onWarning: (m) => warnings.push(m) });
    expect(t.enabled).toBe(true);
    startSpan("lost", SpanKind.INTERNAL, {}).end();
    await expect(t.forceFlush()).resolves.toBeUndefined();
    expect(warnings.length).toBeGreaterThan(0);
  });

  it("on: header and bus propagation continue the trace; store calls become child spans", async () => {
    const bodies: string[] = [];
    const srv = createServer((req, res) => {
      let b = "";
      req.on("data", (c: Buffer) => (b += c.toString()));
      req.on("end", () => {
        bodies.push(b);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const addr = srv.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    try {
      t = await startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, serviceName: "unit" });
      expect(tracingEnabled()).toBe(true);
      const root = startSpan("edge", SpanKind.SERVER, {});
      const header = traceHeaderValue(root);
      expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const child = startSpan("worker", SpanKind.SERVER, {}, contextFromTraceHeader(header));
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId);
      const bus = busTraceHeaders(child)!;
      const consumer = startSpan("consumer", SpanKind.CONSUMER, {}, contextFromBusHeaders(new Map(Object.entries(bus))));
      expect(consumer.spanContext().traceId).toBe(root.spanContext().traceId);

      class Store {
        #n = 1;
        get n(): number {
          return this.#n;
        }
        lookup(x: number): Promise<number> {
          return Promise.resolve(x + this.#n);
        }
        fail(): Promise<never> {
          return Promise.reject(new Error("redis down"));
        }
      }
      const store = traceAsyncMethods(new Store(), "bindings", ["lookup", "fail"]);
      expect(store.n).toBe(1); // private fields still work through the wrapper
      await expect(withSpan(child, () => store.lookup(41))).resolves.toBe(42);
      await expect(withSpan(child, () => store.fail())).rejects.toThrow("redis down");
      for (const s of [consumer, child, root]) s.end();
      await t.forceFlush();
      const all = bodies.join("\n");
      expect(all).toContain('"name":"bindings.lookup"');
      expect(all).toContain('"name":"bindings.fail"');
      expect(all).toContain(`"parentSpanId":"${child.spanContext().spanId}"`);
      expect(all).toContain("redis down");
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it("shutdown unregisters the provider and turns the flag off", async () => {
    t = await startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" }, serviceName: "x", onWarning: () => undefined });
    expect(tracingEnabled()).toBe(true);
    await t.shutdown();
    expect(tracingEnabled()).toBe(false);
    expect(trace.getTracer("x").startSpan("after").isRecording()).toBe(false);
  });
});
