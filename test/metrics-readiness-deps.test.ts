/**
 * DESIGN §5 readiness of the cluster roles on real processes: a registrar is ready only while Redis
 * and NATS are connected, an edge only while NATS is; each goes 503 naming the lost dependency when
 * it goes away, and 200 again once it is back. Needs redis-server, nats-server and the build.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, freeSipPort, startNats, startRedis, waitFor, type NatsServer, type RedisServer } from "@edgepath/testkit";

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

  beforeAll(async () => {
    registrar = await start("registrar", { REDIS_URL: redis.url });
    const sipPort = await freeSipPort();
    edge = await start("edge", { EDGEPATH_SIP_LISTEN: `udp:127.0.0.1:${sipPort},tcp:127.0.0.1:${sipPort}` });
  });

  it("both are ready with every dependency up and a worker on the ring", async () => {
    const r = await until(registrar, 200, "registrar ready");
    expect(r.checks).toMatchObject({ nats: true, redis: true, ring: true });
    const e = await until(edge, 200, "edge ready");
    expect(e.checks).toMatchObject({ nats: true, ring: true });
  });

  it("Redis gone: the registrar answers 503 with redis=false, and 200 again after Redis is back", async () => {
    await redis.restart({
      whileDown: async () => {
        const down = await until(registrar, 503, "registrar 503 while Redis is down");
        expect(down.checks["redis"]).toBe(false);
      },
    });
    const up = await until(registrar, 200, "registrar ready after Redis restart");
    expect(up.checks["redis"]).toBe(true);
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
