/**
 * Redis bytes per binding (issue 7: "bindings for 1,000,000 AORs fit in Redis at a documented
 * bytes-per-binding"). Starts a throwaway redis-server, registers N AORs with one realistic
 * binding each straight through RedisBindingStore (the same Lua script and indexes a worker
 * writes: per-AOR hash + meta hash, flow-token and edge index sets, expiry ZSET), reads
 * `INFO memory` before and after, and prints the figure extrapolated to 1,000,000 AORs.
 *
 *   pnpm --filter @edgepath/bench redis-memory [--aors 100000] [--url redis://host:port]
 *
 * With --url it measures in an existing Redis (use an empty database: it writes under the
 * prefix "epbench:" and deletes nothing).
 */
import { parseArgs } from "node:util";
import { RedisBindingStore } from "@edgepath/bindings-redis";
import type { ContactChange } from "@edgepath/bindings";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { removeDir, startRedisForBench } from "./processes.js";

const { values: args } = parseArgs({ options: { aors: { type: "string", default: "100000" }, url: { type: "string" } } });
const N = Number(args.aors);

interface MemInfo {
  usedMemory: number;
  keys: number;
}

async function memInfo(probe: (cmd: string) => Promise<string>): Promise<MemInfo> {
  const info = await probe("memory");
  const used = /used_memory:(\d+)/.exec(info);
  const ks = await probe("keyspace");
  const keys = /keys=(\d+)/.exec(ks);
  return { usedMemory: Number(used?.[1] ?? Number.NaN), keys: Number(keys?.[1] ?? 0) };
}

async function main(): Promise<void> {
  if (!(N > 0)) throw new Error("--aors must be a positive number");
  const redis = args.url === undefined ? await startRedisForBench() : undefined;
  const url = args.url ?? redis!.url;
  const store = new RedisBindingStore({ url, keyPrefix: "epbench:", commandTimeoutMs: 30_000 });
  const { Redis } = await import("ioredis");
  const admin = new Redis(url);
  try {
    await store.waitUntilReady(10_000);
    const probe = async (section: string): Promise<string> => String(await admin.info(section));
    const before = await memInfo(probe);
    const codec = new FlowTokenCodec("bench-secret-0123456789abcdef0123");
    const edge = "10.0.0.1:5070";
    const now = Date.now();
    const started = Date.now();
    const BATCH = 2000;
    for (let base = 0; base < N; base += BATCH) {
      const ops: Promise<unknown>[] = [];
      for (let i = base; i < Math.min(N, base + BATCH); i++) {
        // A phone behind NAT over UDP: its own public ip:port, hence its own flow token.
        const ip = `198.51.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}`;
        const port = 1024 + (i & 0xff) * 200;
        const flowToken = codec.encode({ transport: "udp", localAddress: "192.0.2.10", localPort: 5060, remoteAddress: ip, remotePort: port, connectionId: 0 });
        const instance = `<urn:uuid:${(0x10000000 + i).toString(16)}-7f4e-4b1a-9c6d-0123456789ab>`;
        const change: ContactChange = {
          key: `${instance};reg-id=1`,
          expires: 3600,
          binding: {
            contact: `sip:user${i}@${ip}:${port};transport=udp;ob`,
            instance,
            regId: 1,
            q: 1,
            path: [`<sip:${flowToken}@${edge};lr;ob>`],
            edge,
            flowToken,
            transport: "udp",
            source: `${ip}:${port}`,
            userAgent: "Yealink SIP-T46U 108.86.0.20",
          },
        };
        ops.push(
          store.register({ aor: `sip:user${i}@example.com`, callId: `${i}-a84b4c76e66710@pc33.example.com`, cseq: 1, now, removeAll: false, changes: [change], maxContacts: 10 }),
        );
      }
      const results = await Promise.all(ops);
      const bad = results.find((r) => (r as { ok: boolean }).ok !== true);
      if (bad !== undefined) throw new Error(`register failed: ${JSON.stringify(bad)}`);
    }
    const after = await memInfo(probe);
    // Proof of "Lua by SHA": the script went over the wire once (EVAL / SCRIPT LOAD), then EVALSHA.
    const stats = await probe("commandstats");
    const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    const usecPerEvalsha = Number(/cmdstat_evalsha:[^\r\n]*usec_per_call=([\d.]+)/.exec(stats)?.[1] ?? Number.NaN);
    // Where the bytes go: one AOR's own keys, and the shared index keys divided by N.
    const keys = store.keys;
    const sample = "sip:user0@example.com";
    const usage = async (key: string): Promise<number> => Number((await admin.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0);
    const sampleToken = codec.encode({ transport: "udp", localAddress: "192.0.2.10", localPort: 5060, remoteAddress: "198.51.0.0", remotePort: 1024, connectionId: 0 });
    const breakdown = {
      bindingsHash: await usage(keys.bindings(sample)),
      metaHash: await usage(keys.meta(sample)),
      flowIndexSet: await usage(keys.flow(sampleToken)),
      edgeIndexSetPerAor: Math.round((await usage(keys.edge(edge))) / N),
      expiryZsetPerAor: Math.round((await usage(keys.expiry)) / N),
    };
    const secs = (Date.now() - started) / 1000;
    const perAor = (after.usedMemory - before.usedMemory) / N;
    const result = {
      aors: N,
      bindingsPerAor: 1,
      keysAdded: after.keys - before.keys,
      usedMemoryBefore: before.usedMemory,
      usedMemoryAfter: after.usedMemory,
      bytesPerAor: Math.round(perAor),
      extrapolated1MAorsMiB: Math.round((perAor * 1_000_000) / 1024 / 1024),
      registersPerSec: Math.round(N / secs),
      evalshaCalls: calls("evalsha"),
      evalCalls: calls("eval"),
      usecPerEvalsha,
      breakdown,
    };
    process.stdout.write(
      `redis-memory: ${N} AORs x 1 binding (RFC 5626 instance + reg-id, one Path with a flow token): ` +
        `${result.bytesPerAor} bytes per AOR (all keys and indexes), ${result.keysAdded} keys added; ` +
        `1,000,000 AORs ~ ${result.extrapolated1MAorsMiB} MiB of used_memory. (${result.registersPerSec} REGISTER/s direct to the store; ` +
        `EVALSHA ${result.evalshaCalls} at ${usecPerEvalsha} µs each in Redis, EVAL ${result.evalCalls})\n` +
        `  per AOR (MEMORY USAGE, key overhead included; the main dict and expires entries are not): ${JSON.stringify(breakdown)}\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    admin.disconnect();
    await store.close();
    if (redis !== undefined) {
      await redis.proc.stop();
      await removeDir(redis.dir);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`redis-memory failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
