import { connect } from "node:net";
import { existsSync } from "node:fs";
import { describe, it, expect } from "vitest";
import { ServerStartError } from "./errors.js";
import { startRedis } from "./redis.js";

/** One RESP command over a fresh connection; returns the first reply line. */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("error", reject);
    socket.on("connect", () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
    });
    socket.on("data", (chunk: string) => {
      buf += chunk;
      // Bulk string: "$N\r\nvalue\r\n"; simple/error/int: one line.
      const lines = buf.split("\r\n");
      if (buf.startsWith("$") && !buf.startsWith("$-1") && lines.length >= 3) {
        socket.destroy();
        resolve(lines[1]!);
      } else if (!buf.startsWith("$") || buf.startsWith("$-1")) {
        if (lines.length >= 2) {
          socket.destroy();
          resolve(lines[0]!);
        }
      }
    });
  });
}

describe("startRedis", () => {
  it("starts on a free loopback port, answers PING, and stop() kills it and removes the data dir", async () => {
    const redis = await startRedis();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(redis.running).toBe(true);
      expect(await redisCommand(redis.port, "PING")).toBe("+PONG");
      expect(await redisCommand(redis.port, "CONFIG", "GET", "appendonly")).toBe("*2");
      expect(redis.log()).toMatch(/Ready to accept connections/);
    } finally {
      await redis.stop();
    }
    expect(redis.running).toBe(false);
    expect(existsSync(redis.dataDir)).toBe(false);
    await expect(redisCommand(redis.port, "PING")).rejects.toThrow(/ECONNREFUSED/);
    await redis.stop(); // idempotent
  });

  it("restart() keeps the port; without persistence the data is gone", async () => {
    await using redis = await startRedis();
    expect(await redisCommand(redis.port, "SET", "k", "v")).toBe("+OK");
    const port = redis.port;
    let refusedWhileDown = false;
    await redis.restart({
      whileDown: async () => {
        refusedWhileDown = await redisCommand(port, "PING").then(
          () => false,
          () => true,
        );
      },
    });
    expect(refusedWhileDown).toBe(true);
    expect(redis.port).toBe(port);
    expect(await redisCommand(port, "PING")).toBe("+PONG");
    expect(await redisCommand(port, "EXISTS", "k")).toBe(":0");
  });

  it("with persistence, data survives a graceful restart and a SIGKILL (appendfsync always)", async () => {
    await using redis = await startRedis({ persistence: true });
    expect(await redisCommand(redis.port, "SET", "k1", "v1")).toBe("+OK");
    await redis.restart();
    expect(await redisCommand(redis.port, "GET", "k1")).toBe("v1");
    expect(await redisCommand(redis.port, "SET", "k2", "v2")).toBe("+OK");
    await redis.restart({ kill: true });
    expect(await redisCommand(redis.port, "GET", "k2")).toBe("v2");
  });

  it("fails fast with the server's log when redis-server exits during start-up", async () => {
    const started = Date.now();
    const err: unknown = await startRedis({ extraArgs: ["--no-such-directive", "1"] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as ServerStartError).code).toBe("server-start-failed");
    expect((err as ServerStartError).log).toMatch(/no-such-directive|Bad directive/i);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("a fixed port that is taken fails with EADDRINUSE in the log instead of hanging", async () => {
    await using first = await startRedis();
    const err: unknown = await startRedis({ port: first.port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as ServerStartError).log).toMatch(/already in use/i);
  });
});
