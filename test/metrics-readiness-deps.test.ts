/**
 * DESIGN §5 readiness of the cluster roles on real processes: a registrar is ready only while Redis
 * and NATS are connected, an edge only while NATS is; each goes 503 naming the lost dependency when
 * it goes away, and 200 again once it is back. The registrar's /metrics move with SIP traffic
 * (REGISTER and location-proxied MESSAGE latency, Redis store timings, binding census), and its
 * admin API answers 503 (not 500) while Redis is down; a Redis that comes back empty (or is
 * flushed) is counted in edgepath_redis_dataset_lost_total and logged at error. Needs
 * redis-server, nats-server and the build.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freePort, freeSipPort, randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, startNats, startRedis, TestUa, waitFor,
  type NatsServer, type RedisServer,
} from "@edgepath/testkit";

const main = fileURLToPath(new URL("../services/edgepath/dist/main.js", import.meta.url));

interface Proc {
  readonly admin: string;
  readonly child: ChildProcess;
  output(): string;
}

let redis: RedisServer;
let nats: NatsServer;
const procs: Proc[] = [];

async function start(role: "edge" | "registrar", env: Record<string, string>): Promise<Proc> {
  const httpPort = await freePort("tcp");
  const child = spawn(process.execPath, [main, role], {
    env: {
      ...process.env,
      EDGEPATH_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      EDGEPATH_INTERNAL_LISTEN: "127.0.0.1:0",
      EDGEPATH_DOMAINS: "example.com",
      EDGEPATH_SECRET: "readiness-test-secret-0123456789abcdef",
      EDGEPATH_LOG_LEVEL: "warn",
      EDGEPATH_NODE_ID: `${role}-readiness`,
      NATS_URL: nats.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
  const p: Proc = { admin: `http://127.0.0.1:${httpPort}`, child, output: () => out };
  procs.push(p);
  await waitFor(() => (out.includes('"edgepath-ready"') ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), {
    timeoutMs: 30_000,
    what: `${role} ready line`,
  });
  return p;
}

async function readiness(p: Proc): Promise<{ status: number; checks: Record<string, boolean> }> {
  const res = await fetch(`${p.admin}/readyz`);
  const body = (await res.json()) as { checks: Record<string, boolean> };
  return { status: res.status, checks: body.checks };
}

function until(p: Proc, status: number, what: string): Promise<{ status: number; checks: Record<string, boolean> }> {
  return waitFor(async () => {
    const r = await readiness(p);
    return r.status === status ? r : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100, what: `${what} (log: ${p.output().slice(-2000)})` });
}

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

async function metrics(p: Proc): Promise<string> {
  const res = await fetch(`${p.admin}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Waits until the registrar's edgepath_redis_dataset_lost_total reads `n` (issue 4: an emptied Redis is noticed). */
function datasetLostCount(p: Proc, n: number, after: string): Promise<true> {
  return waitFor(async () => (sample(await metrics(p), "edgepath_redis_dataset_lost_total") === n ? true : undefined), {
    timeoutMs: 15_000, intervalMs: 100, what: `edgepath_redis_dataset_lost_total to reach ${n} after ${after}`,
  });
}

beforeAll(async () => {
  redis = await startRedis();
  nats = await startNats();
});
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  await redis?.stop();
  await nats?.stop();
});

describe("readiness follows Redis and NATS (edgepath registrar / edge, real processes)", () => {
  let registrar: Proc;
  let edge: Proc;
  let sipPort: number;

  beforeAll(async () => {
    // Auth off: this file is about metrics and readiness; digest auth has its own tests.
    registrar = await start("registrar", { REDIS_URL: redis.url, EDGEPATH_AUTH: "off" });
    sipPort = await freeSipPort();
    edge = await start("edge", { EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}` });
  });

  it("both are ready with every dependency up and a worker on the ring", async () => {
    const r = await until(registrar, 200, "registrar ready");
    expect(r.checks).toMatchObject({ nats: true, redis: true, ring: true });
    const e = await until(edge, 200, "edge ready");
    expect(e.checks).toMatchObject({ nats: true, ring: true });
  });

  it("DESIGN §5: the registrar role's /metrics move with traffic (REGISTER, proxied MESSAGE, Redis timings, census)", async () => {
    await until(registrar, 200, "registrar ready");
    await until(edge, 200, "edge ready");
    const before = await metrics(registrar);
    const edgeBefore = await metrics(edge);
    const target = { host: "127.0.0.1", port: sipPort };
    await using bob = await TestUa.create({ transport: "udp" });
    await using alice = await TestUa.create({ transport: "udp" });
    const user = `bob-metrics-${randomToken(3)}`;
    const via = (ua: TestUa): string => `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK${randomToken()};rport`;
    const reg = await bob.request(sipText("REGISTER sip:example.com SIP/2.0", [
      via(bob), "Max-Forwards: 70", `From: <sip:${user}@example.com>;tag=${randomToken(4)}`, `To: <sip:${user}@example.com>`,
      `Call-ID: ${randomToken()}@reg`, "CSeq: 1 REGISTER", `Contact: <sip:${user}@${bob.hostport}>`, "Expires: 300",
    ]), target, 10_000);
    expect(sipStatus(reg), reg).toBe(200);

    // RFC 3428 MESSAGE to the registered user: the worker's location proxy forwards it, Bob answers 200.
    const message = (to: string): { text: string; callId: string } => {
      const callId = `${randomToken()}@msg`;
      return {
        callId,
        text: sipText(`MESSAGE sip:${to}@example.com SIP/2.0`, [
          via(alice), "Max-Forwards: 70", `From: <sip:alice@example.com>;tag=${randomToken(4)}`, `To: <sip:${to}@example.com>`,
          `Call-ID: ${callId}`, "CSeq: 1 MESSAGE", "Content-Type: text/plain",
        ], "hello"),
      };
    };
    const m = message(user);
    alice.send(m.text, target);
    const got = await bob.nextMessage((x) => sipMethod(x) === "MESSAGE" && sipHeader(x, "call-id") === m.callId, 10_000);
    bob.send(sipText("SIP/2.0 200 OK", [
      ...sipHeaders(got, "via").map((v) => `Via: ${v}`), `From: ${sipHeader(got, "from")!}`, `To: ${sipHeader(got, "to")!};tag=${randomToken(4)}`,
      `Call-ID: ${m.callId}`, `CSeq: ${sipHeader(got, "cseq")!}`,
    ]), target);
    const ok = await alice.nextMessage((x) => sipStatus(x) === 200 && sipHeader(x, "call-id") === m.callId, 10_000);
    expect(sipStatus(ok)).toBe(200);
    // And one to nobody: the location proxy's own 404 (RFC 3261 §16.5) is a final response too.
    const nobody = await alice.request(message(`nobody-${randomToken(3)}`).text, target, 10_000);
    expect(sipStatus(nobody)).toBe(404);

    const after = await metrics(registrar);
    const delta = (name: string, labels: Record<string, string>): number => sample(after, name, labels) - sample(before, name, labels);
    expect(delta("edgepath_registrar_responses_total", { method: "REGISTER", class: "2xx" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_registrar_responses_total", { method: "MESSAGE", class: "2xx" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_sip_transaction_duration_seconds_count", { method: "REGISTER", class: "2xx" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_sip_transaction_duration_seconds_count", { method: "MESSAGE", class: "2xx" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_sip_transaction_duration_seconds_count", { method: "MESSAGE", class: "4xx" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_sip_transaction_duration_seconds_sum", { method: "REGISTER" })).toBeGreaterThan(0);
    expect(delta("edgepath_store_operation_duration_seconds_count", { backend: "redis", op: "register", result: "ok" })).toBeGreaterThanOrEqual(1);
    expect(delta("edgepath_proxy_requests_total", {})).toBeGreaterThanOrEqual(2);
    expect(sample(after, "edgepath_ready", { role: "registrar" })).toBe(1);
    expect(sample(after, "edgepath_ready_check", { check: "redis" })).toBe(1);
    expect(sample(after, "edgepath_ring_members")).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^# TYPE edgepath_nats_errors_total counter$/m);
    // The census is cached for 5 s: wait for one that has seen Bob's binding.
    await waitFor(async () => (sample(await metrics(registrar), "edgepath_bindings_active") >= 1 ? true : undefined), {
      timeoutMs: 20_000, intervalMs: 500, what: "edgepath_bindings_active >= 1 on the registrar",
    });
    const edgeAfter = await metrics(edge);
    expect(sample(edgeAfter, "edgepath_sip_requests_total", { method: "REGISTER" }) - sample(edgeBefore, "edgepath_sip_requests_total", { method: "REGISTER" })).toBeGreaterThanOrEqual(1);
    expect(sample(edgeAfter, "edgepath_ready", { role: "edge" })).toBe(1);
  });

  it("Redis gone: the registrar answers 503 with redis=false, and 200 again after Redis is back", async () => {
    const errorsBefore = sample(await metrics(registrar), "edgepath_store_errors_total", { backend: "redis" });
    const lostBefore = sample(await metrics(registrar), "edgepath_redis_dataset_lost_total");
    await redis.restart({
      whileDown: async () => {
        const down = await until(registrar, 503, "registrar 503 while Redis is down");
        expect(down.checks["redis"]).toBe(false);
        // Issue 4: clear errors meanwhile. The admin API says the store is unavailable (503 + Retry-After), not 500.
        const res = await fetch(`${registrar.admin}/v1/aors/${encodeURIComponent("sip:someone@example.com")}`);
        expect(res.status).toBe(503);
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(await res.json()).toMatchObject({ error: "store-unavailable", aor: "sip:someone@example.com" });
        expect(sample(await metrics(registrar), "edgepath_ready_check", { check: "redis" })).toBe(0);
      },
    });
    const up = await until(registrar, 200, "registrar ready after Redis restart");
    expect(up.checks["redis"]).toBe(true);
    // The failed lookup is a Redis error in the metrics (DESIGN §5).
    expect(sample(await metrics(registrar), "edgepath_store_errors_total", { backend: "redis" })).toBeGreaterThan(errorsBefore);
    const res = await fetch(`${registrar.admin}/v1/aors/${encodeURIComponent("sip:someone@example.com")}`);
    expect(res.status).toBe(200);
    // This Redis has no persistence: it came back empty, and the registrar says so (issue 4).
    await datasetLostCount(registrar, lostBefore + 1, "the empty restart");
    expect(registrar.output()).toMatch(/"level":50.*redis lost its data/);
  });

  it("Redis flushed while connected: the periodic marker check counts the loss within seconds", async () => {
    await until(registrar, 200, "registrar ready");
    const lostBefore = sample(await metrics(registrar), "edgepath_redis_dataset_lost_total");
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await admin.get("ep:dataset")).not.toBeNull();
      await admin.flushall();
    } finally {
      admin.disconnect();
    }
    await datasetLostCount(registrar, lostBefore + 1, "FLUSHALL");
    // Still ready: an empty Redis works; the loss is an alert, not an outage.
    expect((await readiness(registrar)).status).toBe(200);
  });

  it("NATS gone: edge and registrar answer 503 with nats=false, and 200 again after NATS is back", async () => {
    await nats.restart({
      whileDown: async () => {
        expect((await until(edge, 503, "edge 503 while NATS is down")).checks["nats"]).toBe(false);
        expect((await until(registrar, 503, "registrar 503 while NATS is down")).checks["nats"]).toBe(false);
      },
    });
    expect((await until(edge, 200, "edge ready after NATS restart")).checks["nats"]).toBe(true);
    expect((await until(registrar, 200, "registrar ready after NATS restart")).checks["nats"]).toBe(true);
  });
});
