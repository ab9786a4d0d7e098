/**
 * Credentials in Redis (DESIGN §4: "Redis is the truth for bindings and credentials").
 *
 * Layout (hash-tagged per user so it works on Redis Cluster; no KEYS/SCAN anywhere):
 *   {prefix}cred:{username@realm}   HASH  aor, ha1:SHA-256, ha1:MD5
 *   {prefix}nc:{nonce}              STRING highest nonce-count seen, PX = nonce lifetime
 * The nonce-count check is one Lua call (compare-and-set), so replay protection holds across
 * every worker of the cluster, not only the one that saw the first use.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Credential, CredentialStore, NonceCounter } from "./credentials.js";
import { AuthError } from "./errors.js";

const ADVANCE_NC_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
local nc = tonumber(ARGV[1])
if nc <= cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

interface Commands {
  edgepathAdvanceNc(key: string, nc: string, ttlMs: string): Promise<number>;
}

export interface RedisCredentialStoreOptions {
  readonly url?: string;
  readonly redis?: RedisOptions;
  /** Bring your own client; close() does not quit it. */
  readonly client?: Redis;
  /** Default "ep:" (the binding store's prefix). */
  readonly keyPrefix?: string;
  readonly commandTimeoutMs?: number;
  readonly onError?: (err: Error) => void;
}

export class RedisCredentialStore implements CredentialStore, NonceCounter {
  readonly #client: Redis & Commands;
  readonly #owned: boolean;
  readonly #prefix: string;

  constructor(opts: RedisCredentialStoreOptions) {
    const base: RedisOptions = {
      // off, like the binding store's client (see its defaults): no Pipeline per batch
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      ...opts.redis,
    };
    const client = opts.client ?? (opts.url !== undefined ? new Redis(opts.url, base) : new Redis(base));
    this.#owned = opts.client === undefined;
    client.defineCommand("edgepathAdvanceNc", { numberOfKeys: 1, lua: ADVANCE_NC_LUA });
    if (opts.onError !== undefined) client.on("error", opts.onError);
    else client.on("error", () => {});
    this.#client = client as Redis & Commands;
    this.#prefix = opts.keyPrefix ?? "ep:";
  }

  /** Resolves once connected (ctl uses it to fail with a clear message). */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.#client.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new AuthError("store-unavailable", `redis not ready after ${timeoutMs} ms`)), timeoutMs);
      this.#client.once("ready", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  get connected(): boolean {
    return this.#client.status === "ready";
  }

  async get(username: string, realm: string): Promise<Credential | undefined> {
    const r = realm.toLowerCase();
    const h = await this.#call(() => this.#client.hgetall(this.#credKey(username, r)));
    const aor = h["aor"];
    const sha = h["ha1:SHA-256"];
    const md5 = h["ha1:MD5"];
    if (aor === undefined || sha === undefined || md5 === undefined) return undefined;
    return { aor, username, realm: r, ha1: { "SHA-256": sha, MD5: md5 } };
  }

  async put(c: Credential): Promise<void> {
    const k = this.#credKey(c.username, c.realm);
    await this.#call(() => this.#client.multi().del(k).hset(k, { aor: c.aor, "ha1:SHA-256": c.ha1["SHA-256"], "ha1:MD5": c.ha1.MD5 }).exec());
  }

  async remove(username: string, realm: string): Promise<boolean> {
    return (await this.#call(() => this.#client.del(this.#credKey(username, realm.toLowerCase())))) > 0;
  }

  async advance(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const r = await this.#call(() => this.#client.edgepathAdvanceNc(`${this.#prefix}nc:{${nonce}}`, String(nc), String(Math.max(1, Math.ceil(ttlMs)))));
    return r === 1;
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #credKey(username: string, realm: string): string {
    return `${this.#prefix}cred:{${username}@${realm}}`;
  }

  async #call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new AuthError("store-unavailable", `credential store: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}
