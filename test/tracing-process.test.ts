/**
 * Tracing as deployed (DESIGN §5, issue 6): `node services/edgepath/dist/main.js all` started with
 * the standard OTEL_* variables sets the SDK up at its entry point and exports OTLP/HTTP JSON to an
 * in-test receiver: one connected trace (edge -> worker -> edge) for a REGISTER and for a MESSAGE
 * between two UAs, `service.name` defaulting per role, and SIGTERM flushing what is buffered.
 * Needs the build (`pnpm test` runs `tsc -b` first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, freeSipPort, randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, TestUa, waitFor } from "@edgepath/testkit";
import { TRACE_HEADER } from "@edgepath/telemetry";
import { spansOfCall, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.js";

const mainJs = resolve(import.meta.dirname, "../services/edgepath/dist/main.js");

let receiver: OtlpReceiver;
let child: ChildProcess;
let output = "";
let sipPort = 0;
let exited: Promise<number | null>;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  sipPort = await freeSipPort();
  const httpPort = await freePort("tcp");
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}`,
    EDGEPATH_INTERNAL_LISTEN: "127.0.0.1:0",
    EDGEPATH_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    EDGEPATH_DOMAINS: "example.com",
    EDGEPATH_SECRET: "e2e-test-secret-0123456789abcdef0123456789",
    EDGEPATH_WORKERS: "2",
    EDGEPATH_NODE_ID: "trace-e2e",
    EDGEPATH_LOG_LEVEL: "warn",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    // BatchSpanProcessor reads this itself: export every 200 ms so the test need not wait 5 s.
    OTEL_BSP_SCHEDULE_DELAY: "200",
  };
  child = spawn(process.execPath, [mainJs, "all"], { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
  exited = new Promise((r) => child.once("exit", (code) => r(code)));
  // A crash at start fails the suite at once, with the process's output.
  const early = new AbortController();
  void exited.then((code) => early.abort(new Error(`edgepath exited (${code}) before ready:\n${output}`)));
  await waitFor(() => (output.includes('"edgepath-ready"') ? true : undefined), {
    timeoutMs: 30_000,
    what: "edgepath all ready",
    signal: early.signal,
  });
});
afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill("SIGKILL");
    await exited;
  }
  await receiver?.close();
});

const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sipPort });

function request(method: "REGISTER" | "MESSAGE", ua: TestUa, fromUser: string, toUser: string, callId: string): string {
  const ruri = method === "REGISTER" ? "sip:example.com" : `sip:${toUser}@example.com`;
  return sipText(
    `${method} ${ruri} SIP/2.0`,
    [
      `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${fromUser}@example.com>;tag=${randomToken(4)}`,
      `To: <sip:${toUser}@example.com>`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
      ...(method === "REGISTER" ? [`Contact: <sip:${fromUser}@${ua.hostport}>`, "Expires: 300", "Supported: path"] : ["Content-Type: text/plain"]),
    ],
    method === "MESSAGE" ? "hi" : "",
  );
}

function spansFor<T>(what: string, pick: (spans: readonly ReceivedSpan[]) => T | undefined): Promise<T> {
  return waitFor(() => pick(receiver.spans), { timeoutMs: 20_000, intervalMs: 100, what: `${what}\n${output.slice(-1000)}` });
}

describe("edgepath all with OTEL_EXPORTER_OTLP_ENDPOINT (DESIGN §5)", () => {
  it("REGISTER: one trace from the edge span to the worker span, service.name defaulting to edgepath-all", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const user = `alice-${randomToken(3)}`;
    const callId = `${randomToken()}@proc-reg`;
    const res = await ua.request(request("REGISTER", ua, user, user, callId), edge(), 10_000);
    expect(sipStatus(res)).toBe(200);
    const [edgeSpan, workerSpan] = await spansFor("REGISTER edge + worker spans", (all) => {
      const call = spansOfCall(all, callId);
      const e = call.find((s) => s.name === "edge REGISTER");
      const w = e && call.find((s) => s.name === "worker REGISTER" && s.parentSpanId === e.spanId);
      return e && w ? ([e, w] as const) : undefined;
    });
    expect(workerSpan.traceId).toBe(edgeSpan.traceId);
    expect(edgeSpan.parentSpanId).toBe("");
    expect(edgeSpan.serviceName).toBe("edgepath-all");
    expect(workerSpan.attributes).toMatchObject({ "sip.status_code": 200, "sip.method": "REGISTER" });
    expect(String(workerSpan.attributes["edgepath.worker"])).toMatch(/^trace-e2e-w\d$/);
  });

  it("MESSAGE between two UAs: edge -> worker -> branch -> edge in one trace; no internal header reaches either UA", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "udp" });
    const bobUser = `bob-${randomToken(3)}`;
    expect(sipStatus(await bob.request(request("REGISTER", bob, bobUser, bobUser, `${randomToken()}@r`), edge(), 10_000))).toBe(200);
    const callId = `${randomToken()}@proc-msg`;
    const finalP = alice.request(request("MESSAGE", alice, `alice-${randomToken(3)}`, bobUser, callId), edge(), 15_000);
    const atBob = await bob.nextMessage((m) => sipMethod(m) === "MESSAGE" && sipHeader(m, "call-id") === callId, 10_000);
    expect(sipHeader(atBob, TRACE_HEADER)).toBeUndefined();
    bob.send(
      sipText("SIP/2.0 200 OK", [
        ...sipHeaders(atBob, "via").map((v) => `Via: ${v}`),
        `From: ${sipHeader(atBob, "from") ?? ""}`,
        `To: ${sipHeader(atBob, "to") ?? ""};tag=${randomToken(4)}`,
        `Call-ID: ${callId}`,
        `CSeq: ${sipHeader(atBob, "cseq") ?? ""}`,
      ]),
      edge(),
    );
    const final = await finalP;
    expect(sipStatus(final)).toBe(200);
    expect(sipHeader(final, TRACE_HEADER)).toBeUndefined();
    const chain = await spansFor("MESSAGE span chain", (all) => {
      const call = spansOfCall(all, callId);
      const ingress = call.find((s) => s.name === "edge MESSAGE" && s.parentSpanId === "");
      const worker = ingress && call.find((s) => s.name === "worker MESSAGE" && s.parentSpanId === ingress.spanId);
      const branch = worker && call.find((s) => s.name === "branch MESSAGE" && s.parentSpanId === worker.spanId);
      const egress = branch && call.find((s) => s.name === "edge MESSAGE" && s.parentSpanId === branch.spanId);
      return ingress && worker && branch && egress ? [ingress, worker, branch, egress] : undefined;
    });
    expect(new Set(chain.map((s) => s.traceId)).size).toBe(1);
  });

  it("SIGTERM: the process exits 0 after flushing, and every export was well-formed OTLP/HTTP JSON", async () => {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(receiver.rejected).toEqual([]);
    expect(output).not.toMatch(/otel: .*(failed|error)/i);
  });
});
