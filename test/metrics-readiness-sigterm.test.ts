/**
 * DESIGN §5 on a real process: `edgepath all` answers /readyz 200 when up, and after SIGTERM answers
 * 503 (notDraining=false) while it drains, then exits 0. Needs the build (`pnpm test` runs tsc -b).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, freeSipPort, randomToken, sipStatus, sipText, TestUa, waitFor } from "@edgepath/testkit";

const main = fileURLToPath(new URL("../services/edgepath/dist/main.js", import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
  child = undefined;
});

describe("SIGTERM drain (edgepath all, real process)", () => {
  it("DESIGN §5: readiness goes false on SIGTERM while liveness stays true, then the process exits 0", async () => {
    const sipPort = await freeSipPort();
    const httpPort = await freePort("tcp");
    const admin = `http://127.0.0.1:${httpPort}`;
    const proc = spawn(process.execPath, [main, "all"], {
      env: {
        ...process.env,
        EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}`,
        EDGEPATH_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        EDGEPATH_DOMAINS: "example.com",
        EDGEPATH_SECRET: "sigterm-test-secret-0123456789abcdef",
        EDGEPATH_LOG_LEVEL: "warn",
        OTEL_EXPORTER_OTLP_ENDPOINT: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let output = "";
    proc.stdout?.on("data", (b: Buffer) => (output += b.toString()));
    proc.stderr?.on("data", (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));

    await waitFor(() => (output.includes('"edgepath-ready"') ? true : undefined), { timeoutMs: 30_000, what: `edgepath-ready line (output: ${output})` });
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);

    // Keep the worker busy draining: a MESSAGE to a registered callee who has not answered yet
    // (RFC 3261 §17: the proxy's transaction stays open until a final response or its timers).
    await using callee = await TestUa.create({ transport: "udp" });
    await using caller = await TestUa.create({ transport: "udp" });
    const target = { host: "127.0.0.1", port: sipPort };
    const user = `sigterm-${randomToken(3)}`;
    const register = sipText(`REGISTER sip:example.com SIP/2.0`, [
      `Via: SIP/2.0/UDP ${callee.hostport};branch=z9hG4bK${randomToken()};rport`,
      "Max-Forwards: 70",
      `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
      `To: <sip:${user}@example.com>`,
      `Call-ID: ${randomToken()}@sigterm`,
      "CSeq: 1 REGISTER",
      `Contact: <sip:${user}@${callee.hostport}>`,
      "Expires: 300",
    ]);
    expect(sipStatus(await callee.request(register, target, 10_000))).toBe(200);
    caller.send(
      sipText(`MESSAGE sip:${user}@example.com SIP/2.0`, [
        `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK${randomToken()};rport`,
        "Max-Forwards: 70",
        `From: <sip:caller@example.com>;tag=${randomToken(4)}`,
        `To: <sip:${user}@example.com>`,
        `Call-ID: ${randomToken()}@sigterm`,
        "CSeq: 1 MESSAGE",
        "Content-Type: text/plain",
      ], "drain me"),
      target,
    );
    await callee.nextMessage((m) => m.startsWith("MESSAGE "), 10_000);

    proc.kill("SIGTERM");
    const body = await waitFor(async () => {
      const res = await fetch(`${admin}/readyz`);
      return res.status === 503 ? ((await res.json()) as { ready: boolean; checks: Record<string, boolean> }) : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: "/readyz 503 after SIGTERM" });
    expect(body.ready).toBe(false);
    expect(body.checks["notDraining"]).toBe(false);
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);

    expect(await exited).toBe(0);
  });
});
