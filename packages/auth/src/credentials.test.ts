import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startRedis, type RedisServer } from "@edgepath/testkit";
import { computeHa1 } from "./digest.js";
import { AuthError } from "./errors.js";
import { credentialFor, credentialKeyOf, MemoryCredentialStore } from "./credentials.js";
import type { CredentialStore, NonceCounter } from "./credentials.js";
import { RedisCredentialStore } from "./redis-credentials.js";

describe("credentialFor", () => {
  it("DESIGN §6: username = AOR user part, realm = domain unless configured, HA1 per algorithm", () => {
    const c = credentialFor("sips:Alice@Example.COM;transport=tcp", "pw");
    expect(c).toMatchObject({ aor: "sip:Alice@example.com", username: "Alice", realm: "example.com" });
    expect(c.ha1.MD5).toBe(computeHa1("MD5", "Alice", "example.com", "pw"));
    expect(c.ha1["SHA-256"]).toBe(computeHa1("SHA-256", "Alice", "example.com", "pw"));
    expect(credentialFor("sip:alice@example.com", "pw", "Corp").realm).toBe("corp");
    expect(credentialKeyOf("sip:alice@example.com")).toEqual({ username: "alice", realm: "example.com" });
  });

  it("refuses an AOR without a user part, a tel URI and an empty password", () => {
    expect(() => credentialFor("sip:example.com", "pw")).toThrow(AuthError);
    expect(() => credentialFor("tel:+123", "pw")).toThrow(AuthError);
    expect(() => credentialFor("sip:a@example.com", "")).toThrow(AuthError);
  });
});

function contract(name: string, make: () => Promise<CredentialStore & NonceCounter>): void {
  describe(`${name} credential store`, () => {
    it("puts, gets and removes by username and realm", async () => {
      const s = await make();
      const c = credentialFor(`sip:u${Date.now()}@example.com`, "pw");
      expect(await s.get(c.username, c.realm)).toBeUndefined();
      await s.put(c);
      expect(await s.get(c.username, "EXAMPLE.com")).toEqual(c);
      expect(await s.remove(c.username, c.realm)).toBe(true);
      expect(await s.remove(c.username, c.realm)).toBe(false);
      expect(await s.get(c.username, c.realm)).toBeUndefined();
      await s.close();
    });

    it("RFC 2617 §3.2.2: nonce-count must increase per nonce", async () => {
      const s = await make();
      const n = `nonce-${Math.random()}`;
      expect(await s.advance(n, 1, 60_000)).toBe(true);
      expect(await s.advance(n, 1, 60_000)).toBe(false);
      expect(await s.advance(n, 3, 60_000)).toBe(true);
      expect(await s.advance(n, 2, 60_000)).toBe(false);
      expect(await s.advance(`${n}-other`, 1, 60_000)).toBe(true);
      await s.close();
    });
  });
}

contract("memory", () => Promise.resolve(new MemoryCredentialStore()));

describe("redis", () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  }, 20_000);
  afterAll(async () => {
    await redis?.stop();
  });
  contract("redis", async () => {
    const s = new RedisCredentialStore({ url: redis!.url });
    await s.ready();
    return s;
  });
});

describe("MemoryCredentialStore nonce bound", () => {
  it("keeps at most maxNonces entries", async () => {
    const s = new MemoryCredentialStore({ maxNonces: 5 });
    for (let i = 0; i < 10; i++) await s.advance(`n${i}`, 1, 60_000);
    // the oldest were forgotten, so their nc restarts; the newest are still guarded
    expect(await s.advance("n0", 1, 60_000)).toBe(true);
    expect(await s.advance("n9", 1, 60_000)).toBe(false);
  });
});
