import { afterEach, describe, expect, it } from "vitest";
import { Counter, Registry } from "prom-client";
import { BindingStoreUnavailableError } from "@edgepath/bindings-redis";
import { MemoryBindingStore, type BindingStore } from "@edgepath/bindings";
import { AdminServer, DrainState, type Readiness } from "./admin-http.js";
import { aorView } from "./compose.js";

let server: AdminServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(readiness: () => Readiness, extra: Partial<ConstructorParameters<typeof AdminServer>[0]> = {}): Promise<string> {
  const registry = new Registry();
  new Counter({ name: "edgepath_test_total", help: "test", registers: [registry] }).inc(3);
  server = new AdminServer({ role: "edge", nodeId: "n1", registry, readiness, ...extra });
  const { port } = await server.listen("127.0.0.1", 0);
  return `http://127.0.0.1:${port}`;
}

describe("AdminServer", () => {
  it("/healthz answers 200 whatever readiness says (alive is not ready)", async () => {
    const base = await start(() => ({ ready: false, checks: { nats: false } }));
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", role: "edge", node: "n1" });
  });

  it("/readyz follows readiness: 503 with the failing check named, then 200", async () => {
    let r: Readiness = { ready: false, checks: { nats: true, ring: false } };
    const base = await start(() => r);
    const down = await fetch(`${base}/readyz`);
    expect(down.status).toBe(503);
    expect(down.headers.get("cache-control")).toBe("no-store");
    expect(await down.json()).toEqual({ ready: false, checks: { nats: true, ring: false } });
    r = { ready: true, checks: { nats: true, ring: true } };
    const up = await fetch(`${base}/readyz`);
    expect(up.status).toBe(200);
  });

  it("HEAD probes get the status without a body", async () => {
    const base = await start(() => ({ ready: false, checks: {} }));
    const res = await fetch(`${base}/readyz`, { method: "HEAD" });
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("");
  });

  it("/metrics serves the registry in Prometheus text format", async () => {
    const base = await start(() => ({ ready: true, checks: {} }));
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^edgepath_test_total 3$/m);
  });

  it("refuses other methods with 405 and Allow, unknown paths with 404", async () => {
    const base = await start(() => ({ ready: true, checks: {} }));
    const post = await fetch(`${base}/readyz`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it("the binding API on an edge says to ask a registrar", async () => {
    const base = await start(() => ({ ready: true, checks: {} }));
    const res = await fetch(`${base}/v1/aors/${encodeURIComponent("sip:a@example.com")}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("not-available");
  });
});

describe("AdminServer binding API while the store is down (issue 4: clear errors meanwhile)", () => {
  /** A store whose lookups fail like RedisBindingStore's while Redis restarts. */
  function failingStore(err: Error): BindingStore {
    const s = new MemoryBindingStore();
    s.lookup = () => Promise.reject(err);
    return s;
  }

  it("GET /v1/aors/{aor} answers 503 + Retry-After with a JSON error, not 500", async () => {
    const store = failingStore(new BindingStoreUnavailableError("redis: connection is closed", 7));
    const base = await start(() => ({ ready: false, checks: { redis: false } }), { aor: (aor) => aorView(store, aor) });
    const res = await fetch(`${base}/v1/aors/${encodeURIComponent("sip:alice@example.com")}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({ error: "store-unavailable", aor: "sip:alice@example.com", message: "redis: connection is closed" });
  });

  it("an error that is not 'unavailable' is still a 500 (a bug, not an outage)", async () => {
    const store = failingStore(new Error("boom"));
    const base = await start(() => ({ ready: true, checks: {} }), { aor: (aor) => aorView(store, aor) });
    const res = await fetch(`${base}/v1/aors/${encodeURIComponent("sip:alice@example.com")}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toBe("internal");
  });

  it("answers 200 with the bindings once the store works", async () => {
    const store = new MemoryBindingStore();
    const base = await start(() => ({ ready: true, checks: {} }), { aor: (aor) => aorView(store, aor) });
    const res = await fetch(`${base}/v1/aors/${encodeURIComponent("sip:alice@example.com")}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ aor: "sip:alice@example.com", bindings: [] });
  });
});

describe("AdminServer draining", () => {
  it("DESIGN §5: /readyz turns 503 with notDraining=false once the drain state begins, /healthz stays 200", async () => {
    const drain = new DrainState();
    const base = await start(() => ({ ready: true, checks: { nats: true, ring: true } }), { drain });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    drain.begin();
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, checks: { nats: true, ring: true, notDraining: false } });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
