/**
 * `edgepath ctl user add|rm` (issue 5): credentials written as HA1 values straight into Redis
 * (REDIS_URL), where the registrar role's RedisCredentialStore reads them. Runs the built CLI
 * (`pnpm test` builds first; alone: `pnpm exec tsc -b services/edgepath`).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { RedisCredentialStore } from "@edgepath/auth";
import { freePort, startRedis, type RedisServer } from "@edgepath/testkit";
import { startEmbedded } from "./support/embedded.js";

const mainJs = resolve(import.meta.dirname, "../services/edgepath/dist/main.js");
let redis: RedisServer;
let store: RedisCredentialStore;

beforeAll(async () => {
  redis = await startRedis();
  store = new RedisCredentialStore({ url: redis.url });
  await store.ready();
}, 20_000);

afterAll(async () => {
  await store?.close();
  await redis?.stop();
});

function ctl(args: string[], env: Record<string, string>, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [mainJs, "ctl", ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", rej);
    child.on("close", (code) => res({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

const md5 = (s: string): string => createHash("md5").update(s).digest("hex");
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

describe("edgepath ctl user", () => {
  it("DESIGN §6: user add stores HA1 (MD5 and SHA-256) under username = user part, realm = domain; rm removes it", async () => {
    const add = await ctl(["user", "add", "sip:zoe@example.com", "zoe-pw"], { REDIS_URL: redis.url });
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    const c = await store.get("zoe", "example.com");
    expect(c).toEqual({
      aor: "sip:zoe@example.com",
      username: "zoe",
      realm: "example.com",
      ha1: { MD5: md5("zoe:example.com:zoe-pw"), "SHA-256": sha256("zoe:example.com:zoe-pw") },
    });
    const rm = await ctl(["user", "rm", "sip:zoe@example.com"], { REDIS_URL: redis.url });
    expect(rm.code).toBe(0);
    expect(await store.get("zoe", "example.com")).toBeUndefined();
    expect((await ctl(["user", "rm", "sip:zoe@example.com"], { REDIS_URL: redis.url })).code).toBe(1);
  }, 30_000);

  it("reads the password from stdin with '-' and honours EDGEPATH_AUTH_REALM", async () => {
    const add = await ctl(["user", "add", "sip:yann@example.com", "-"], { REDIS_URL: redis.url, EDGEPATH_AUTH_REALM: "Corp" }, "yann-pw\n");
    expect(add.code).toBe(0);
    expect((await store.get("yann", "corp"))?.ha1.MD5).toBe(md5("yann:corp:yann-pw"));
  }, 30_000);

  it("without REDIS_URL and no admin API to reach, fails naming REDIS_URL and the URL; usage on bad arguments", async () => {
    const closed = await freePort("tcp");
    const r = await ctl(["user", "add", "sip:x@example.com", "pw", `--url=http://127.0.0.1:${closed}`], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("REDIS_URL");
    expect(r.stderr).toContain(`127.0.0.1:${closed}`);
    const u = await ctl(["user", "frobnicate"], { REDIS_URL: redis.url });
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("usage");
  }, 30_000);

  it("embedded system: user add/rm go through the admin API into its in-memory store (no REDIS_URL)", async () => {
    const sys = await startEmbedded({ EDGEPATH_AUTH: "required" });
    try {
      const creds = sys.system.credentials;
      expect(creds).toBeDefined();
      const add = await ctl(["user", "add", "sip:zoe@example.com", "-", `--url=${sys.adminUrl}`], {}, "zoe-pw\n");
      expect(add.code, add.stderr).toBe(0);
      expect(JSON.parse(add.stdout)).toMatchObject({ added: "sip:zoe@example.com", username: "zoe", realm: "example.com" });
      expect((await creds!.get("zoe", "example.com"))?.ha1.MD5).toBe(md5("zoe:example.com:zoe-pw"));
      const rm = await ctl(["user", "rm", "sip:zoe@example.com", `--url=${sys.adminUrl}`], {});
      expect(rm.code).toBe(0);
      expect(await creds!.get("zoe", "example.com")).toBeUndefined();
      const again = await ctl(["user", "rm", "sip:zoe@example.com", `--url=${sys.adminUrl}`], {});
      expect(again.code).toBe(1);
      const bad = await fetch(`${sys.adminUrl}/v1/users/${encodeURIComponent("sip:zoe@example.com")}`, { method: "PUT", body: "{}" });
      expect(bad.status).toBe(400);
    } finally {
      await sys.stop();
    }
  }, 30_000);
});
