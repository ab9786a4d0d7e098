/**
 * OTLP/HTTP span exporter with JSON bodies (`http/json`, OTLP specification "OTLP/HTTP").
 *
 * The serialisation is OpenTelemetry's own (`JsonTraceSerializer` from otlp-transformer, the one
 * `@opentelemetry/exporter-trace-otlp-http` uses); only the POST is ours. Why not that exporter:
 * its transport package (`otlp-exporter-base`) publishes a `module` export condition pointing at
 * an ESM build with extension-less imports, which breaks under any Node process started with
 * `--conditions=module` (vitest does this for our workspace conditions). A single POST with a
 * timeout and the spec's retry rule is small enough to own.
 *
 * Retries (OTLP/HTTP "Failures"): 429, 502, 503, 504 are retryable, with exponential backoff
 * (honouring Retry-After seconds), within the export timeout. Anything else fails the batch;
 * the BatchSpanProcessor drops it and the failure goes to the global error handler (our logger).
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-node";

export interface OtlpHttpJsonExporterOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whole-export budget including retries; OTLP default 10 s. */
  readonly timeoutMs?: number;
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const DEFAULT_TIMEOUT_MS = 10_000;

/** Error of a failed export (never thrown into the app: handed to the SDK's result callback). */
export class OtlpExportError extends Error {
  override readonly name = "OtlpExportError";
  readonly code: "http-status" | "network" | "timeout" | "serialize" | "shut-down";
  readonly httpStatus: number | undefined;
  constructor(code: OtlpExportError["code"], message: string, httpStatus?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export class OtlpHttpJsonExporter implements SpanExporter {
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #pending = new Set<Promise<void>>();
  #shutdown = false;

  constructor(o: OtlpHttpJsonExporterOptions) {
    this.#url = new URL(o.url);
    this.#headers = { ...o.headers, "content-type": "application/json" };
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.#shutdown) {
      resultCallback({ code: ExportResultCode.FAILED, error: new OtlpExportError("shut-down", "exporter is shut down") });
      return;
    }
    let body: Uint8Array | undefined;
    try {
      body = JsonTraceSerializer.serializeRequest(spans);
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: new OtlpExportError("serialize", "could not serialise spans", undefined, { cause: err }) });
      return;
    }
    if (body === undefined) {
      resultCallback({ code: ExportResultCode.FAILED, error: new OtlpExportError("serialize", "could not serialise spans") });
      return;
    }
    const p = this.#send(body).then(
      () => resultCallback({ code: ExportResultCode.SUCCESS }),
      (err: unknown) => resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) }),
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async shutdown(): Promise<void> {
    this.#shutdown = true;
    await this.forceFlush();
  }

  async #send(body: Uint8Array): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) throw new OtlpExportError("timeout", `OTLP export to ${this.#url.href} timed out`);
      const res = await this.#post(body, left);
      if (res.status >= 200 && res.status < 300) return;
      if (!RETRYABLE.has(res.status) || attempt >= 4) {
        throw new OtlpExportError("http-status", `OTLP export to ${this.#url.href} failed: HTTP ${res.status}`, res.status);
      }
      const backoff = res.retryAfterMs ?? Math.min(5000, 250 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      if (Date.now() + backoff >= deadline) throw new OtlpExportError("http-status", `OTLP export to ${this.#url.href} failed: HTTP ${res.status} (no time left to retry)`, res.status);
      await new Promise((r) => setTimeout(r, backoff).unref());
    }
  }

  #post(body: Uint8Array, timeoutMs: number): Promise<{ status: number; retryAfterMs: number | undefined }> {
    const send = this.#url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(this.#url, { method: "POST", headers: { ...this.#headers, "content-length": String(body.byteLength) }, timeout: timeoutMs }, (res: IncomingMessage) => {
        res.resume(); // the body (an ExportTraceServiceResponse, maybe with partial_success) is not needed
        res.on("end", () => {
          const ra = Number(res.headers["retry-after"]);
          resolve({ status: res.statusCode ?? 0, retryAfterMs: Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined });
        });
        res.on("error", (err) => reject(new OtlpExportError("network", `OTLP export to ${this.#url.href}: ${err.message}`, undefined, { cause: err })));
      });
      req.on("timeout", () => req.destroy(new OtlpExportError("timeout", `OTLP export to ${this.#url.href} timed out`)));
      req.on("error", (err) => reject(err instanceof OtlpExportError ? err : new OtlpExportError("network", `OTLP export to ${this.#url.href}: ${err.message}`, undefined, { cause: err })));
      req.end(body);
    });
  }
}
