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
import { startRedis, type RedisServer } from "@edgepath/testkit";

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

  it("fails with a message naming REDIS_URL when it is missing, and with usage on bad arguments", async () => {
    const r = await ctl(["user", "add", "sip:x@example.com", "pw"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("REDIS_URL");
    const u = await ctl(["user", "frobnicate"], { REDIS_URL: redis.url });
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("usage");
  }, 30_000);
});
