import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { OtlpExportError, OtlpHttpJsonExporter } from "./otlp-http-exporter.js";

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server answering with the given statuses in turn; records request bodies and headers. */
async function serve(statuses: number[]): Promise<{ url: string; bodies: string[]; headers: Record<string, string | string[] | undefined>[] }> {
  const bodies: string[] = [];
  const headers: Record<string, string | string[] | undefined>[] = [];
  server = createServer((req, res) => {
    let b = "";
    req.on("data", (c: Buffer) => (b += c.toString()));
    req.on("end", () => {
      bodies.push(b);
      headers.push(req.headers);
      const status = statuses.shift() ?? 200;
      res.writeHead(status, status === 503 ? { "retry-after": "0" } : {}).end("{}");
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : 0}/v1/traces`, bodies, headers };
}

function someSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer("t").startSpan("one", { attributes: { "sip.method": "REGISTER" } }).end();
  return memory.getFinishedSpans();
}

function exportOnce(e: OtlpHttpJsonExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((r) => e.export(spans, r));
}

describe("OtlpHttpJsonExporter (OTLP/HTTP, http/json)", () => {
  it("POSTs an ExportTraceServiceRequest as JSON with the configured headers", async () => {
    const s = await serve([200]);
    const r = await exportOnce(new OtlpHttpJsonExporter({ url: s.url, headers: { authorization: "Bearer t" } }), someSpans());
    expect(r.code).toBe(ExportResultCode.SUCCESS);
    expect(s.headers[0]?.["content-type"]).toBe("application/json");
    expect(s.headers[0]?.["authorization"]).toBe("Bearer t");
    const body = JSON.parse(s.bodies[0] ?? "{}") as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> };
    expect(body.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name).toBe("one");
  });

  it("OTLP/HTTP Failures: 503 is retried (Retry-After honoured), then success", async () => {
    const s = await serve([503, 200]);
    const r = await exportOnce(new OtlpHttpJsonExporter({ url: s.url }), someSpans());
    expect(r.code).toBe(ExportResultCode.SUCCESS);
    expect(s.bodies).toHaveLength(2);
  });

  it("OTLP/HTTP Failures: 400 is not retryable and fails the batch with a typed error", async () => {
    const s = await serve([400]);
    const r = await exportOnce(new OtlpHttpJsonExporter({ url: s.url }), someSpans());
    expect(r.code).toBe(ExportResultCode.FAILED);
    expect(r.error).toBeInstanceOf(OtlpExportError);
    expect((r.error as OtlpExportError).code).toBe("http-status");
    expect((r.error as OtlpExportError).httpStatus).toBe(400);
    expect(s.bodies).toHaveLength(1);
  });

  it("after shutdown, exports fail without a request", async () => {
    const s = await serve([]);
    const e = new OtlpHttpJsonExporter({ url: s.url });
    await e.shutdown();
    const r = await exportOnce(e, someSpans());
    expect(r.code).toBe(ExportResultCode.FAILED);
    expect(s.bodies).toHaveLength(0);
  });
});
