import { connect } from "node:net";
import { describe, it, expect } from "vitest";
import { startNats } from "./nats.js";

function natsInfo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setEncoding("utf8");
    socket.on("error", reject);
    socket.once("data", (chunk: string) => {
      socket.destroy();
      resolve(chunk);
    });
  });
}

describe("startNats", () => {
  it("starts with -p -1, reads the port from the ports file, and serves INFO", async () => {
    const nats = await startNats();
    try {
      expect(nats.port).toBeGreaterThan(0);
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
      const info = await natsInfo(nats.port);
      expect(info.startsWith("INFO {")).toBe(true);
      expect(nats.log()).toMatch(/Server is ready/);
    } finally {
      await nats.stop();
    }
    expect(nats.running).toBe(false);
    await expect(natsInfo(nats.port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("restart() comes back on the same port", async () => {
    await using nats = await startNats();
    const port = nats.port;
    let downSeen = false;
    await nats.restart({
      whileDown: async () => {
        downSeen = await natsInfo(port).then(
          () => false,
          () => true,
        );
      },
    });
    expect(downSeen).toBe(true);
    expect(nats.port).toBe(port);
    expect((await natsInfo(port)).startsWith("INFO ")).toBe(true);
  });

  it("token auth is required when configured (INFO says auth_required)", async () => {
    await using nats = await startNats({ token: "s3cret" });
    const info = JSON.parse((await natsInfo(nats.port)).slice(5)) as { auth_required?: boolean };
    expect(info.auth_required).toBe(true);
  });
});
