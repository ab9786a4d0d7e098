import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { loadConfigOrThrow, type EdgepathConfig } from "@edgepath/config";
import { MemoryCredentialStore } from "@edgepath/auth";
import { authHooks, edgeTransportLimits, runAll, type RunningSystem } from "./compose.js";

const BASE = {
  EDGEPATH_SIP_LISTEN: "udp:127.0.0.1:0,tcp:127.0.0.1:0",
  EDGEPATH_HTTP_LISTEN: "127.0.0.1:0",
  EDGEPATH_SECRET: "compose-test-secret-0123456789",
  EDGEPATH_WORKERS: "1",
  EDGEPATH_DOMAINS: "example.com",
};

function config(env: Record<string, string>): EdgepathConfig {
  return loadConfigOrThrow({ ...BASE, ...env }, [], "all").config;
}

let system: RunningSystem | undefined;
afterEach(async () => {
  await system?.stop(false);
  system = undefined;
});

describe("config -> edge transport", () => {
  it("EDGEPATH_HEADER_TIMEOUT_MS, the connection limits and the WS origins reach the edge's transport limits", () => {
    const c = config({ EDGEPATH_HEADER_TIMEOUT_MS: "1500", EDGEPATH_MAX_CONNECTIONS_PER_IP: "7", EDGEPATH_WS_ALLOWED_ORIGINS: "https://app.example.com" });
    expect(edgeTransportLimits(c)).toEqual({
      maxMessageBytes: 65535,
      idleTimeoutMs: 300000,
      headerReadTimeoutMs: 1500,
      maxConnections: 10000,
      maxConnectionsPerIp: 7,
      wsAllowedOrigins: ["https://app.example.com"],
    });
  });

  it("DESIGN §6 slowloris: a TCP message left incomplete is cut off after EDGEPATH_HEADER_TIMEOUT_MS", async () => {
    // 300 ms configured; the default (10 s) would not close the connection within the 8 s waited here.
    system = await runAll(config({ EDGEPATH_HEADER_TIMEOUT_MS: "300" }), pino({ level: "silent" }));
    const tcp = system.sipListeners.find((l) => l.transport === "tcp")!;
    const socket = connect(tcp.port, "127.0.0.1");
    socket.on("error", () => undefined);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const closed = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 8000);
      socket.once("close", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    socket.write("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKslow\r\n");
    expect(await closed).toBe(true);
    socket.destroy();
  }, 20_000);
});

describe("config -> auth hooks", () => {
  it("RFC 3261 §22.3: the consumed realms are the domains plus EDGEPATH_AUTH_REALM; auth off gives no hooks", () => {
    const store = new MemoryCredentialStore();
    const on = authHooks(config({ EDGEPATH_AUTH: "required", EDGEPATH_AUTH_REALM: "Corp.Example" }), store, pino({ level: "silent" }));
    expect(on.authorize).toBeTypeOf("function");
    expect([...(on.realms ?? [])].sort()).toEqual(["corp.example", "example.com"]);
    expect(authHooks(config({ EDGEPATH_AUTH: "off" }), store, pino({ level: "silent" }))).toEqual({});
  });
});
