import { randomUUID } from "node:crypto";
import { Redis, type Cluster, type RedisOptions } from "ioredis";
import {
  BindingStoreError,
  DEFAULT_KNOWN_FOR_MS,
  compareBindings,
  validateRegisterOp,
  type Binding,
  type BindingStore,
  type BindingStoreOptions,
  type ContactChange,
  type RegisterOp,
  type RegisterResult,
  type UnreachableSelector,
} from "@edgepath/bindings";
import { keyLayout, type KeyLayout } from "./keys.js";
import { EDGE_RESTARTED_LUA, EXPIRY_CAS_LUA, INDEX_ADD_LUA, MARK_REACHABLE_LUA, MARK_UNREACHABLE_LUA, REGISTER_LUA } from "./lua.js";

export interface RedisBindingStoreOptions extends BindingStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://` for TLS. */
  readonly url?: string;
  /** ioredis options, applied over the store's defaults (see below). */
  readonly redis?: RedisOptions;
  /**
   * Bring your own client (e.g. an ioredis `Cluster`). It should have
   * `enableOfflineQueue: false` and leave `enableAutoPipelining` off (see the defaults below);
   * close() does not quit it.
   */
  readonly client?: Redis | Cluster;
  /** Prefix of every key; default "ep:". */
  readonly keyPrefix?: string;
  /** A command that takes longer fails as unavailable; default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** Keys outlive their last binding's expiry by this much; default 60 s. */
  readonly graceMs?: number;
  /** Retry-After (seconds) in the 503 answer while Redis is unreachable; default 5. */
  readonly retryAfterSec?: number;
  /** Connection errors and index-update failures (the store never logs by itself). */
  readonly onError?: (err: Error) => void;
  /**
   * Called when the dataset marker changed between two checks: Redis came back empty (restarted
   * without persistence, flushed, failed over to an empty replica). Checked on every (re)connect,
   * every `datasetCheckMs` while connected, and whenever checkDataset() is called. Not seen: a partial loss (a restart from an older
   * snapshot, AOF `everysec` losing its last second) keeps the old marker; and eviction, which
   * takes TTL'd binding keys long before the marker (no TTL, read every few seconds).
   */
  readonly onDatasetLost?: (ev: DatasetLost) => void;
  /**
   * Called when this store's first check found no marker and wrote one: a Redis new to edgepath,
   * or one that lost its data while no store was watching (every registrar restarted with it).
   */
  readonly onDatasetCreated?: (id: string) => void;
  /** How often the marker is checked while connected (a FLUSHALL or failover without a reconnect); default 5000, 0 = only on reconnect. */
  readonly datasetCheckMs?: number;
}

/** The dataset marker changed: what the store had seen, and what is there now. */
export interface DatasetLost {
  readonly previous: string;
  readonly current: string;
}

/**
 * What checkDataset() found. "first": the store's first check (`created`: no marker was there,
 * so this Redis is new to edgepath or lost its data while no store was watching — the two cannot
 * be told apart); "same": nothing lost since the last check; "lost": see onDatasetLost.
 */
export type DatasetCheck =
  | { readonly state: "first"; readonly id: string; readonly created: boolean }
  | { readonly state: "same"; readonly id: string }
  | { readonly state: "lost"; readonly id: string; readonly previous: string };

/**
 * Redis is down or too slow. Thrown by the operations whose result type has no error
 * variant (lookup, markUnreachable, markReachable, sweepExpired); register() returns
 * `{ ok: false, code: "unavailable", status: 503 }` instead.
 */
export class BindingStoreUnavailableError extends Error {
  override readonly name = "BindingStoreUnavailableError";
  readonly code = "unavailable";
  readonly sipStatus = 503;
  constructor(
    message: string,
    readonly retryAfter: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The scripts as ioredis commands (defineCommand: EVALSHA, EVAL once after NOSCRIPT). */
interface ScriptCommands {
  edgepathRegister(bindingsKey: string, metaKey: string, ...argv: string[]): Promise<unknown>;
  edgepathMarkUnreachable(bindingsKey: string, field: string, value: string, reason: string, now: string): Promise<unknown>;
  edgepathMarkReachable(bindingsKey: string, key: string, now: string): Promise<unknown>;
  edgepathExpiryCas(expiryKey: string, aor: string, scoreSeen: string, next: string): Promise<unknown>;
  edgepathIndexAdd(indexKey: string, aor: string, ttlMs: string): Promise<unknown>;
  edgepathEdgeRestarted(bindingsKey: string, edge: string, startedAt: string, now: string): Promise<unknown>;
}

type Client = (Redis | Cluster) & ScriptCommands;

interface Reach {
  readonly reachable: boolean;
  readonly reason?: string;
  readonly lastSeen: number;
}

type StoredBinding = Omit<Binding, "reachable" | "reason" | "lastSeen">;

const FETCH_MAX_CONTACTS = String(Number.MAX_SAFE_INTEGER);

/**
 * `BindingStore` on Redis (DESIGN §4: Redis is the truth for bindings).
 *
 * - One EVALSHA per REGISTER does expiry-on-read, RFC 3261 §10.3 step 7 Call-ID/CSeq
 *   ordering, `*` removal, changes, max contacts, write-back with key TTLs, and returns
 *   the current bindings — atomically, on the keys of one AOR (one hash slot).
 * - Secondary indexes (flow token -> AORs, edge -> AORs, next-expiry ZSET) are in other
 *   hash slots, so on Redis Cluster they cannot be in the same script. They are updated
 *   right after the script, in one auto-pipelined round trip, and are only ever HINTS:
 *   every reader re-checks the authoritative per-AOR hash inside its own script
 *   (markUnreachable re-matches the token/edge on each binding; the sweep re-checks
 *   expiry). A stale extra index entry costs one wasted script call and is trimmed then;
 *   a missing one (index write lost when Redis died between the two calls) delays
 *   marking that binding unreachable until the UA's next REGISTER re-adds it, while
 *   expiry is still enforced on read and by key TTL. Correctness of a REGISTER never
 *   depends on an index.
 * - No KEYS/SCAN anywhere. The sweep reads `ep:expiry` (AOR -> next expiry). That is one
 *   key, hence one Cluster node, which is fine for a background job; sharding it by
 *   hash of the AOR into N keys would spread it if ever needed.
 * - Redis down: `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and a command
 *   timeout make every call fail within `commandTimeoutMs`; register() turns that into a
 *   503 result, the client keeps reconnecting with capped backoff, forever.
 *
 * Requires Redis >= 7.0 (`PEXPIRE ... NX|GT`).
 */
export class RedisBindingStore implements BindingStore {
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #keys: KeyLayout;
  readonly #knownForMs: number;
  readonly #graceMs: number;
  readonly #retryAfter: number;
  readonly #onError: (err: Error) => void;
  readonly #onDatasetLost: (ev: DatasetLost) => void;
  readonly #onDatasetCreated: (id: string) => void;
  /** The dataset marker seen by the last checkDataset(); undefined before the first. */
  #datasetId: string | undefined;
  readonly #datasetWatch: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(opts: RedisBindingStoreOptions = {}) {
    this.#keys = keyLayout(opts.keyPrefix ?? "ep:");
    this.#knownForMs = opts.knownForMs ?? DEFAULT_KNOWN_FOR_MS;
    this.#graceMs = opts.graceMs ?? 60_000;
    this.#retryAfter = opts.retryAfterSec ?? 5;
    this.#onError = opts.onError ?? (() => undefined);
    this.#onDatasetLost = opts.onDatasetLost ?? (() => undefined);
    this.#onDatasetCreated = opts.onDatasetCreated ?? (() => undefined);
    let client: Redis | Cluster;
    if (opts.client !== undefined) {
      client = opts.client;
      this.#ownsClient = false;
    } else {
      const defaults: RedisOptions = {
        // Off on purpose. Commands issued together are still in flight together (RESP is
        // pipelined on the wire: one round trip); auto-pipelining only merges their socket
        // writes, through a Pipeline object per batch. Measured at 1,500 register()/s against a
        // real redis-server (packages/bench README, "Redis auto-pipelining and the young
        // generation"): with it, what survives one scavenge survives the next (99%), ~2.5 MB
        // per scavenge, pauses 3.5-5 ms; without it 0.6 MB, 1-2 ms, and 10% less CPU.
        enableAutoPipelining: false,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: opts.commandTimeoutMs ?? 1000,
        connectTimeout: 2000,
        // Reconnect forever: 50 ms doubling to a 2 s cap.
        retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
        connectionName: "edgepath-bindings",
      };
      const merged: RedisOptions = { ...defaults, ...opts.redis };
      client = opts.url !== undefined ? new Redis(opts.url, merged) : new Redis(merged);
      this.#ownsClient = true;
    }
    // Without an 'error' listener ioredis prints every reconnect failure to the console.
    client.on("error", (err: unknown) => this.#onError(err instanceof Error ? err : new Error(String(err))));
    // A reconnect is when a restarted, empty Redis shows: check the marker at once. A failed
    // check is dropped; the next reconnect or periodic check sees the same state.
    client.on("ready", () => this.#checkDatasetQuietly());
    const every = opts.datasetCheckMs ?? 5000;
    if (every > 0) {
      this.#datasetWatch = setInterval(() => {
        if (this.connected) this.#checkDatasetQuietly();
      }, every);
      this.#datasetWatch.unref();
    }
    client.defineCommand("edgepathRegister", { numberOfKeys: 2, lua: REGISTER_LUA });
    client.defineCommand("edgepathMarkUnreachable", { numberOfKeys: 1, lua: MARK_UNREACHABLE_LUA });
    client.defineCommand("edgepathMarkReachable", { numberOfKeys: 1, lua: MARK_REACHABLE_LUA });
    client.defineCommand("edgepathExpiryCas", { numberOfKeys: 1, lua: EXPIRY_CAS_LUA });
    client.defineCommand("edgepathIndexAdd", { numberOfKeys: 1, lua: INDEX_ADD_LUA });
    client.defineCommand("edgepathEdgeRestarted", { numberOfKeys: 1, lua: EDGE_RESTARTED_LUA });
    this.#client = client as Client;
  }

  /** True while the connection is up and ready for commands. */
  get connected(): boolean {
    return this.#client.status === "ready";
  }

  /** The key layout in use (for operators' tooling and tests). */
  get keys(): KeyLayout {
    return this.#keys;
  }

  /** Resolves once connected; rejects with BindingStoreUnavailableError after `timeoutMs`. */
  async waitUntilReady(timeoutMs = 5000): Promise<void> {
    if (this.connected) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#client.off("ready", onReady);
        reject(new BindingStoreUnavailableError(`Redis not ready within ${timeoutMs} ms`, this.#retryAfter));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#client.once("ready", onReady);
    });
  }

  async register(op: RegisterOp): Promise<RegisterResult> {
    this.#assertOpen();
    validateRegisterOp(op);
    const changes = op.removeAll ? [] : op.changes; // RFC 3261 §10.3 step 6: `*` stands alone
    const argv: string[] = [
      op.callId,
      String(op.cseq),
      String(op.now),
      op.removeAll ? "1" : "0",
      String(op.maxContacts),
      String(this.#graceMs),
      String(this.#knownForMs),
      String(changes.length),
    ];
    for (const c of changes) {
      if (c.expires === 0) {
        argv.push(c.key, "0", "", "");
      } else {
        const expiresAt = op.now + c.expires * 1000;
        argv.push(c.key, String(expiresAt), bindingJson(op, c, expiresAt), `{"reachable":true,"lastSeen":${op.now}}`);
      }
    }
    let reply: unknown;
    try {
      reply = await this.#client.edgepathRegister(this.#keys.bindings(op.aor), this.#keys.meta(op.aor), ...argv);
    } catch (err) {
      return { ok: false, code: "unavailable", status: 503, reason: unavailableReason(err), retryAfter: this.#retryAfter };
    }
    const parsed = parseRegisterReply(reply);
    if (parsed.kind === "out-of-order") {
      return {
        ok: false,
        code: "out-of-order",
        status: 500,
        reason: `CSeq ${op.cseq} is not higher than the stored CSeq of binding ${parsed.key} with the same Call-ID (RFC 3261 §10.3 step 7)`,
      };
    }
    if (parsed.kind === "too-many-contacts") {
      return { ok: false, code: "too-many-contacts", status: 403, reason: `Too many contacts: ${parsed.count} > ${op.maxContacts}` };
    }
    if (parsed.changed || parsed.removed.length > 0) {
      await this.#updateIndexes(op.aor, parsed.bindings, parsed.removed, parsed.nextExpiry, op.now, parsed.indexUntil);
    }
    return { ok: true, bindings: parsed.bindings.sort(compareBindings), changed: parsed.changed, routingChanged: parsed.routingChanged };
  }

  async lookup(aor: string, now: number): Promise<{ known: boolean; bindings: Binding[] }> {
    this.#assertOpen();
    let fields: Record<string, string>;
    let until: string | null;
    try {
      // Same hash slot, both written before either reply is read: one round trip.
      [fields, until] = await Promise.all([this.#client.hgetall(this.#keys.bindings(aor)), this.#client.hget(this.#keys.meta(aor), "until")]);
    } catch (err) {
      throw this.#unavailable(err);
    }
    const bindings: Binding[] = [];
    for (const [field, json] of Object.entries(fields)) {
      if (!field.startsWith("b:")) continue;
      const b = decodeBinding(json, fields[`r:${field.slice(2)}`]);
      if (b.expiresAt > now) bindings.push(b); // expiry enforced on read
    }
    bindings.sort(compareBindings);
    const known = bindings.length > 0 || (until !== null && Number(until) + this.#knownForMs > now);
    return { known, bindings };
  }

  async markUnreachable(sel: UnreachableSelector, reason: string, now: number): Promise<string[]> {
    this.#assertOpen();
    const [field, value, indexKey] = "flowToken" in sel ? ["flowToken", sel.flowToken, this.#keys.flow(sel.flowToken)] : ["edge", sel.edge, this.#keys.edge(sel.edge)];
    return this.#perIndexedAor(indexKey, (aor) => this.#client.edgepathMarkUnreachable(this.#keys.bindings(aor), field, value, reason, String(now)));
  }

  async edgeRestarted(edge: string, startedAt: number, now: number): Promise<string[]> {
    this.#assertOpen();
    return this.#perIndexedAor(this.#keys.edge(edge), (aor) => this.#client.edgepathEdgeRestarted(this.#keys.bindings(aor), edge, String(startedAt), String(now)));
  }

  /**
   * Runs a per-AOR script (replying {changed, matched}) for every AOR of an index set, 256 at
   * a time; returns the AORs it changed, sorted, and trims members nothing matched any more.
   */
  async #perIndexedAor(indexKey: string, script: (aor: string) => Promise<unknown>): Promise<string[]> {
    try {
      const aors = await this.#members(indexKey);
      const affected: string[] = [];
      const trim: string[] = [];
      for (let i = 0; i < aors.length; i += 256) {
        const batch = aors.slice(i, i + 256);
        const replies = await Promise.all(batch.map(script));
        replies.forEach((r, j) => {
          const [changed, matched] = Array.isArray(r) ? (r as unknown[]).map(Number) : [0, 0];
          const aor = batch[j] as string;
          if ((changed ?? 0) > 0) affected.push(aor);
          if ((matched ?? 0) === 0) trim.push(aor); // stale hint: nothing of this AOR uses it any more
        });
      }
      if (trim.length > 0) await this.#client.srem(indexKey, ...trim);
      return affected.sort();
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  async markReachable(aor: string, key: string, now: number): Promise<void> {
    this.#assertOpen();
    try {
      await this.#client.edgepathMarkReachable(this.#keys.bindings(aor), key, String(now));
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  /**
   * Removes expired bindings of AORs whose next expiry is due, at most `limit` bindings
   * (default: all due), and trims the indexes. Returns the number of bindings removed.
   * Unlimited sweeps run AORs in parallel batches; a limited one goes AOR by AOR so the
   * budget is exact.
   */
  async sweepExpired(now: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.#assertOpen();
    let removed = 0;
    try {
      // Bounded rounds: an AOR whose score a concurrent REGISTER keeps moving cannot loop us.
      for (let round = 0; round < 100 && removed < limit; round++) {
        const page = Number.isFinite(limit) ? Math.min(1000, limit - removed) : 1000;
        const due = await this.#client.zrangebyscore(this.#keys.expiry, "-inf", now, "WITHSCORES", "LIMIT", 0, page);
        if (due.length === 0) break;
        const pairs: [string, string][] = [];
        for (let i = 0; i + 1 < due.length; i += 2) pairs.push([due[i] as string, due[i + 1] as string]);
        let progressed = false;
        if (Number.isFinite(limit)) {
          for (const [aor, score] of pairs) {
            if (removed >= limit) break;
            const n = await this.#sweepAor(aor, score, now, limit - removed);
            removed += n.removed;
            progressed ||= n.applied;
          }
        } else {
          const results = await Promise.all(pairs.map(([aor, score]) => this.#sweepAor(aor, score, now, undefined)));
          for (const n of results) {
            removed += n.removed;
            progressed ||= n.applied;
          }
        }
        if (!progressed) break;
      }
      return removed;
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  /** One AOR of the sweep: a fetch through the REGISTER script (expiry on read, write back). */
  async #sweepAor(aor: string, score: string, now: number, budget: number | undefined): Promise<{ removed: number; applied: boolean }> {
    const argv = ["", "0", String(now), "0", FETCH_MAX_CONTACTS, String(this.#graceMs), String(this.#knownForMs), "0"];
    if (budget !== undefined) argv.push(String(budget));
    const parsed = parseRegisterReply(await this.#client.edgepathRegister(this.#keys.bindings(aor), this.#keys.meta(aor), ...argv));
    if (parsed.kind !== "ok") return { removed: 0, applied: false };
    if (parsed.removed.length > 0) await this.#updateIndexes(aor, parsed.bindings, parsed.removed, 0, now, undefined);
    const applied = Number(await this.#client.edgepathExpiryCas(this.#keys.expiry, aor, score, String(parsed.nextExpiry))) === 1;
    return { removed: parsed.removed.length, applied: applied || parsed.removed.length > 0 };
  }

  /** Admin: AORs with bindings or due for the sweep, sorted (from the expiry ZSET, no SCAN). */
  async listAors(limit: number): Promise<string[]> {
    this.#assertOpen();
    try {
      return (await this.#client.zrange(this.#keys.expiry, 0, Math.max(0, limit - 1))).sort();
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  /**
   * Compares the dataset marker with the one seen last time (DESIGN §4: Redis is the truth, so a
   * Redis that lost its keys lost every binding and credential in it, and nothing else would say
   * so: REGISTERs simply succeed again as phones refresh). One `SET key id NX GET` round trip:
   * the first store to look after the loss writes a new marker, every store then reads the same
   * one. Redis Cluster: the marker is in one slot, so only that node's loss is seen.
   */
  async checkDataset(): Promise<DatasetCheck> {
    this.#assertOpen();
    const candidate = randomUUID();
    let existing: unknown;
    try {
      existing = await this.#client.call("SET", this.#keys.dataset, candidate, "NX", "GET");
    } catch (err) {
      throw this.#unavailable(err);
    }
    const current = typeof existing === "string" ? existing : candidate;
    const previous = this.#datasetId;
    this.#datasetId = current;
    // A check that was in flight when close() ran reports nothing (the owner has moved on).
    if (previous === undefined) {
      const created = current === candidate;
      if (created && !this.#closed) this.#onDatasetCreated(current);
      return { state: "first", id: current, created };
    }
    if (previous === current) return { state: "same", id: current };
    if (!this.#closed) this.#onDatasetLost({ previous, current });
    return { state: "lost", id: current, previous };
  }

  #checkDatasetQuietly(): void {
    if (!this.#closed) this.checkDataset().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#datasetWatch);
    if (!this.#ownsClient) return;
    try {
      if (this.#client.status === "ready") await this.#client.quit();
      else this.#client.disconnect();
    } catch {
      this.#client.disconnect();
    }
  }

  /**
   * Index maintenance after the per-AOR script (see the class comment: hints only).
   * `indexUntil` (REGISTER only): binding key -> idxUntil for the bindings the script says
   * need their flow/edge index entries (re)written; a pure refresh still covered by its last
   * write is not in it. Failures are reported, not thrown: the REGISTER already succeeded.
   */
  async #updateIndexes(
    aor: string,
    current: readonly Binding[],
    removedJson: readonly string[],
    nextExpiry: number,
    now: number,
    indexUntil: ReadonlyMap<string, number> | undefined,
  ): Promise<void> {
    const ops: Promise<unknown>[] = [];
    if (removedJson.length > 0) {
      const tokens = new Set<string>();
      const edges = new Set<string>();
      for (const b of current) {
        if (b.flowToken !== undefined) tokens.add(b.flowToken);
        if (b.edge !== undefined) edges.add(b.edge);
      }
      for (const json of removedJson) {
        const old = JSON.parse(json) as StoredBinding;
        if (old.flowToken !== undefined && !tokens.has(old.flowToken)) ops.push(this.#client.srem(this.#keys.flow(old.flowToken), aor));
        if (old.edge !== undefined && !edges.has(old.edge)) ops.push(this.#client.srem(this.#keys.edge(old.edge), aor));
      }
    }
    if (indexUntil !== undefined) {
      if (indexUntil.size > 0) {
        // Per set the longest cover any of this AOR's bindings asks for.
        const until = new Map<string, number>();
        const want = (key: string, at: number): void => {
          if (at > (until.get(key) ?? 0)) until.set(key, at);
        };
        for (const b of current) {
          const written = indexUntil.get(b.key);
          if (written === undefined) continue;
          const at = Math.max(written, b.expiresAt + this.#graceMs);
          if (b.flowToken !== undefined) want(this.#keys.flow(b.flowToken), at);
          if (b.edge !== undefined) want(this.#keys.edge(b.edge), at);
        }
        // SADD + PEXPIRE NX + PEXPIRE GT in one script per set (INDEX_ADD_LUA).
        for (const [key, at] of until) ops.push(this.#client.edgepathIndexAdd(key, aor, String(Math.max(1, at - now))));
      }
      if (nextExpiry > 0) ops.push(this.#client.zadd(this.#keys.expiry, nextExpiry, aor));
    }
    const results = await Promise.allSettled(ops);
    for (const r of results) {
      if (r.status === "rejected") {
        this.#onError(new BindingStoreUnavailableError(`index update for ${aor} failed: ${unavailableReason(r.reason)}`, this.#retryAfter, { cause: r.reason }));
        return;
      }
    }
  }

  /** Members of an index set; SSCAN in pages so a big edge set never blocks Redis. */
  async #members(key: string): Promise<string[]> {
    const seen = new Set<string>();
    let cursor = "0";
    do {
      const [next, page] = await this.#client.sscan(key, cursor, "COUNT", 1000);
      for (const m of page) seen.add(m);
      cursor = next;
    } while (cursor !== "0");
    return [...seen];
  }

  #unavailable(err: unknown): BindingStoreUnavailableError {
    return new BindingStoreUnavailableError(unavailableReason(err), this.#retryAfter, { cause: err });
  }

  #assertOpen(): void {
    if (this.#closed) throw new BindingStoreError("closed", "RedisBindingStore is closed");
  }
}

/**
 * Binding JSON as stored, in a fixed field order, WITHOUT `registeredAt` and `idxUntil`: the
 * script appends them (it keeps the first registration time of a key across refreshes, and
 * knows how far the last index write reaches).
 */
function bindingJson(op: RegisterOp, c: ContactChange, expiresAt: number): string {
  const b = c.binding;
  return JSON.stringify({
    aor: op.aor,
    key: c.key,
    contact: b.contact,
    instance: b.instance,
    regId: b.regId,
    q: b.q,
    path: b.path,
    edge: b.edge,
    flowToken: b.flowToken,
    transport: b.transport,
    source: b.source,
    userAgent: b.userAgent,
    // The volatile tail: REGISTER_LUA compares the text before `,"callId":` to spot a pure
    // refresh, so every routing field must come before this line (isPureRefresh's list).
    callId: op.callId,
    cseq: op.cseq,
    expiresAt,
    updatedAt: op.now,
  });
}

/** The reach value every REGISTER and markReachable writes, read without JSON.parse (hot path). */
const REACHABLE_PREFIX = '{"reachable":true,"lastSeen":';

function decodeReach(reachJson: string): Reach {
  if (reachJson.length > REACHABLE_PREFIX.length + 1 && reachJson.startsWith(REACHABLE_PREFIX) && reachJson.endsWith("}")) {
    const lastSeen = Number(reachJson.slice(REACHABLE_PREFIX.length, -1));
    if (Number.isFinite(lastSeen)) return { reachable: true, lastSeen };
  }
  return JSON.parse(reachJson) as Reach;
}

/** A stored binding JSON: the Binding fields plus `idxUntil`, the store's own bookkeeping. */
type StoredJson = StoredBinding & { idxUntil?: number };

function decodeBinding(json: string, reachJson: string | undefined): Binding {
  const { idxUntil: _own, ...stored } = JSON.parse(json) as StoredJson;
  const reach: Reach = reachJson !== undefined && reachJson !== "" ? decodeReach(reachJson) : { reachable: true, lastSeen: stored.updatedAt };
  return reach.reason !== undefined
    ? { ...stored, reachable: reach.reachable, reason: reach.reason, lastSeen: reach.lastSeen }
    : { ...stored, reachable: reach.reachable, lastSeen: reach.lastSeen };
}

type ParsedRegister =
  | { kind: "out-of-order"; key: string }
  | { kind: "too-many-contacts"; count: number }
  | {
      kind: "ok";
      changed: boolean;
      routingChanged: boolean;
      nextExpiry: number;
      removed: string[];
      /** Binding key -> idxUntil, for the bindings whose index entries must be written. */
      indexUntil: Map<string, number>;
      bindings: Binding[];
    };

function parseRegisterReply(reply: unknown): ParsedRegister {
  if (!Array.isArray(reply) || reply.length < 2) throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
  const r = reply as unknown[];
  switch (r[0]) {
    case "out-of-order":
      return { kind: "out-of-order", key: String(r[1]) };
    case "too-many-contacts":
      return { kind: "too-many-contacts", count: Number(r[1]) };
    case "ok": {
      const nRemoved = Number(r[3]);
      const removed = r.slice(4, 4 + nRemoved).map(String);
      let i = 4 + nRemoved;
      const routingChanged = Number(r[i++]) === 1;
      const nIndex = Number(r[i++]);
      const indexKeys = new Set(r.slice(i, i + nIndex).map(String));
      const indexUntil = new Map<string, number>();
      const bindings: Binding[] = [];
      for (i += nIndex; i + 1 < r.length; i += 2) {
        const json = String(r[i]);
        const b = decodeBinding(json, String(r[i + 1]));
        if (indexKeys.has(b.key)) indexUntil.set(b.key, idxUntilOf(json, b.expiresAt));
        bindings.push(b);
      }
      return { kind: "ok", changed: Number(r[1]) === 1, routingChanged, nextExpiry: Number(r[2]), removed, indexUntil, bindings };
    }
    default:
      throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
  }
}

/** The script appends `,"idxUntil":N}` last; read it back without a second JSON.parse. */
function idxUntilOf(json: string, expiresAt: number): number {
  const at = json.lastIndexOf(',"idxUntil":');
  const v = at < 0 ? Number.NaN : Number(json.slice(at + 12, -1));
  return Number.isFinite(v) ? v : expiresAt;
}

function unavailableReason(err: unknown): string {
  return `Redis unavailable: ${err instanceof Error ? err.message : String(err)}`;
}
