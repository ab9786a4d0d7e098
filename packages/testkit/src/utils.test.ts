import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { isAbsolute } from "node:path";
import { describe, it, expect } from "vitest";
import { WaitTimeoutError } from "./errors.js";
import { findBinary, requireBinary } from "./find-binary.js";
import { freePort, freeSipPort } from "./free-port.js";
import { waitFor } from "./wait-for.js";

describe("findBinary", () => {
  it.each(["redis-server", "nats-server", "sipp"] as const)("finds %s as an absolute executable path", (name) => {
    const path = findBinary(name);
    expect(path).toBeDefined();
    expect(isAbsolute(path!)).toBe(true);
    expect(path!.endsWith(`/${name}`)).toBe(true);
    expect(requireBinary(name)).toBe(path);
  });
});

describe("freePort", () => {
  it("returns a TCP port that can be listened on", async () => {
    const port = await freePort("tcp");
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: "127.0.0.1" }, resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("returns a UDP port that can be bound", async () => {
    const port = await freePort("udp");
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ port, address: "127.0.0.1" }, resolve);
    });
    expect(socket.address().port).toBe(port);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  });

  it("freeSipPort is bindable for both UDP and TCP", async () => {
    const port = await freeSipPort();
    const server = createServer();
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: "127.0.0.1" }, resolve);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ port, address: "127.0.0.1" }, resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  });
});

describe("waitFor", () => {
  it("resolves with the first defined value and treats throws as not-yet", async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls++;
        if (calls === 1) throw new Error("not yet");
        return calls >= 3 ? "ready" : undefined;
      },
      { timeoutMs: 1000, intervalMs: 1, what: "three calls" },
    );
    expect(value).toBe("ready");
    expect(calls).toBe(3);
  });

  it("resolves falsy-but-defined values (0, false)", async () => {
    expect(await waitFor(() => 0, { timeoutMs: 100, what: "zero" })).toBe(0);
    expect(await waitFor(() => false, { timeoutMs: 100, what: "false" })).toBe(false);
  });

  it("rejects with WaitTimeoutError naming what and the last error", async () => {
    const err: unknown = await waitFor(
      () => {
        throw new Error("connection refused");
      },
      { timeoutMs: 60, intervalMs: 10, what: "the moon" },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).message).toMatch(/the moon.*connection refused/);
  });

  it("stops early with the abort reason", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("server died")), 20);
    await expect(waitFor(() => undefined, { timeoutMs: 5000, what: "never", signal: ac.signal })).rejects.toThrow("server died");
  });
});

describe("startSharedServers", () => {
  it("starts redis and nats together and stops both", async () => {
    const { startSharedServers } = await import("./shared-servers.js");
    const servers = await startSharedServers({ redis: true, nats: true });
    expect(servers.urls.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(servers.urls.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(servers.redis?.running).toBe(true);
    await servers.stop();
    expect(servers.redis?.running).toBe(false);
    expect(servers.nats?.running).toBe(false);
  });

  it("stops the one that started when the other fails", async () => {
    const { startSharedServers } = await import("./shared-servers.js");
    await expect(startSharedServers({ redis: { extraArgs: ["--bogus-directive", "x"] }, nats: true })).rejects.toThrow(/redis-server/);
  });
});
