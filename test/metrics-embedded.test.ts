/**
 * DESIGN §5 metrics and probes against the embedded system (`edgepath all`): /metrics changes as
 * real REGISTERs flow through the edge over UDP and TCP, "registered" and "reachable" are counted
 * apart (DESIGN §3), and /readyz goes 503 while a graceful stop drains.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipStatus, sipText, TestUa, waitFor, type TestUaTransport } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";

/** One sample from Prometheus text format, or undefined. Labels not given are not compared. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(sys: EmbeddedSystem): Promise<string> {
  const res = await fetch(`${sys.adminUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

function register(ua: TestUa, sys: EmbeddedSystem, user: string, o: { expires?: number; maxForwards?: number } = {}): string {
  const t = ua.transport.toUpperCase();
  return sipText(`REGISTER sip:example.com:${sys.sipPort} SIP/2.0`, [
    `Via: SIP/2.0/${t} ${ua.hostport};branch=z9hG4bK${randomToken()};rport`,
    `Max-Forwards: ${o.maxForwards ?? 70}`,
    `From: <sip:${user}@example.com>;tag=${randomToken(4)}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: ${randomToken()}@metrics`,
    "CSeq: 1 REGISTER",
    `Contact: <sip:${user}@${ua.hostport};transport=${ua.transport}>`,
    `Expires: ${o.expires ?? 300}`,
    "Supported: path",
  ]);
}

describe("metrics as traffic flows (embedded system)", () => {
  let sys: EmbeddedSystem;
  const target = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

  beforeAll(async () => {
    sys = await startEmbedded({ EDGEPATH_MIN_EXPIRES: "60" });
  });
  afterAll(async () => {
    await sys?.stop();
  });

  it("every metric is edgepath_-prefixed once and labelled with role and node", async () => {
    const text = await scrape(sys);
    const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!);
    expect(names).toContain("edgepath_process_cpu_user_seconds_total");
    expect(names).toContain("edgepath_sip_requests_total");
    expect(names).toContain("edgepath_store_operation_duration_seconds");
    for (const n of names) expect(n).toMatch(/^edgepath_(?!process_process_)/);
    expect(sample(text, "edgepath_ring_members", { role: "all", node: "e2e" })).toBe(2);
    expect(sample(text, "edgepath_ready")).toBe(1);
  });

  it.each<TestUaTransport>(["udp", "tcp"])("RFC 3261 §10.3: a REGISTER over %s moves the request, response, store and binding metrics", async (transport) => {
    const before = await scrape(sys);
    const req0 = sample(before, "edgepath_sip_requests_total", { method: "REGISTER" }) ?? 0;
    const res0 = sample(before, "edgepath_sip_responses_total", { class: "2xx" }) ?? 0;
    const reg0 = sample(before, "edgepath_registrar_responses_total", { method: "REGISTER", class: "2xx" }) ?? 0;
    const store0 = sample(before, "edgepath_store_operation_duration_seconds_count", { op: "register", result: "ok" }) ?? 0;
    const active0 = sample(before, "edgepath_bindings_active") ?? 0;

    await using ua = await TestUa.create({ transport });
    const res = await ua.request(register(ua, sys, `m-${transport}-${randomToken(3)}`), target());
    expect(sipStatus(res)).toBe(200);

    const after = await scrape(sys);
    expect(sample(after, "edgepath_sip_requests_total", { method: "REGISTER" })).toBe(req0 + 1);
    expect(sample(after, "edgepath_sip_forwarded_total", { method: "REGISTER" })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "edgepath_sip_responses_total", { class: "2xx" })).toBe(res0 + 1);
    expect(sample(after, "edgepath_registrar_responses_total", { method: "REGISTER", class: "2xx" })).toBe(reg0 + 1);
    expect(sample(after, "edgepath_store_operation_duration_seconds_count", { op: "register", result: "ok" })).toBe(store0 + 1);
    if (transport === "tcp") expect(sample(after, "edgepath_flows", { transport: "tcp" })).toBeGreaterThanOrEqual(1);
    // The census is cached for up to a second in all-mode.
    await waitFor(async () => ((sample(await scrape(sys), "edgepath_bindings_active") ?? 0) >= active0 + 1 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: "edgepath_bindings_active to count the new binding",
    });
  });

  it("rejections are counted by reason: 483 at the edge (RFC 3261 §16.3 step 3), 423 at the registrar (§10.3 step 7)", async () => {
    const before = await scrape(sys);
    const edge0 = sample(before, "edgepath_sip_rejections_total", { status: "483" }) ?? 0;
    const reg0 = sample(before, "edgepath_registrar_responses_total", { method: "REGISTER", class: "4xx" }) ?? 0;
    await using ua = await TestUa.create({ transport: "udp" });
    expect(sipStatus(await ua.request(register(ua, sys, `hop-${randomToken(3)}`, { maxForwards: 0 }), target()))).toBe(483);
    expect(sipStatus(await ua.request(register(ua, sys, `brief-${randomToken(3)}`, { expires: 5 }), target()))).toBe(423);
    const after = await scrape(sys);
    expect(sample(after, "edgepath_sip_rejections_total", { status: "483" })).toBe(edge0 + 1);
    expect(sample(after, "edgepath_registrar_responses_total", { method: "REGISTER", class: "4xx" })).toBe(reg0 + 1);
    const steps = [...after.matchAll(/^edgepath_registrar_rejections_total\{[^}]*step="([^"]+)"[^}]*\} (\d+)/gm)];
    expect(steps.length).toBeGreaterThanOrEqual(1);
  });

  it("DESIGN §3 / RFC 5626 §5.3: a closed TCP flow leaves the binding registered but not reachable", async () => {
    const counts = async (): Promise<{ active: number; reachable: number }> => {
      const t = await scrape(sys);
      return { active: sample(t, "edgepath_bindings_active") ?? -1, reachable: sample(t, "edgepath_bindings_reachable") ?? -1 };
    };
    // Earlier tests' flows may still be closing: start from a census that holds still across a
    // refresh (the all-mode census is at most 1 s old).
    let previous = await counts();
    const base = await waitFor(async () => {
      await new Promise((r) => setTimeout(r, 1100));
      const c = await counts();
      const same = c.active === previous.active && c.reachable === previous.reachable;
      previous = c;
      return same ? c : undefined;
    }, { timeoutMs: 20_000, intervalMs: 1, what: "a steady binding census" });
    const ua = await TestUa.create({ transport: "tcp" });
    try {
      expect(sipStatus(await ua.request(register(ua, sys, `flow-${randomToken(3)}`), target()))).toBe(200);
      await waitFor(async () => {
        const c = await counts();
        return c.active === base.active + 1 && c.reachable === base.reachable + 1 ? c : undefined;
      }, { timeoutMs: 15_000, intervalMs: 200, what: "the new binding counted as active and reachable" });
      await ua.dropConnection(target());
      const after = await waitFor(async () => {
        const c = await counts();
        return c.reachable === base.reachable ? c : undefined;
      }, { timeoutMs: 15_000, intervalMs: 200, what: "edgepath_bindings_reachable to drop after the flow closed" });
      expect(after.active).toBe(base.active + 1);
    } finally {
      await ua.close();
    }
  });
});

describe("readiness and draining (embedded system)", () => {
  it("DESIGN §5: /readyz is 200 when up and 503 (notDraining=false) while a graceful stop drains", async () => {
    const sys = await startEmbedded();
    let stopped: Promise<void> | undefined;
    await using callee = await TestUa.create({ transport: "udp" });
    await using caller = await TestUa.create({ transport: "udp" });
    try {
      const ready = await fetch(`${sys.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: Record<string, boolean> }).checks).toMatchObject({ ring: true, bus: true, notDraining: true });
      expect((await fetch(`${sys.adminUrl}/healthz`)).status).toBe(200);

      // An open transaction keeps the worker draining (RFC 3261 §17: it finishes what it started):
      // a MESSAGE to a registered callee who does not answer yet.
      const user = `drain-${randomToken(3)}`;
      expect(sipStatus(await callee.request(register(callee, sys, user), { host: "127.0.0.1", port: sys.sipPort }))).toBe(200);
      caller.send(
        sipText(`MESSAGE sip:${user}@example.com SIP/2.0`, [
          `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK${randomToken()};rport`,
          "Max-Forwards: 70",
          `From: <sip:caller@example.com>;tag=${randomToken(4)}`,
          `To: <sip:${user}@example.com>`,
          `Call-ID: ${randomToken()}@drain`,
          "CSeq: 1 MESSAGE",
          "Content-Type: text/plain",
        ], "hello"),
        { host: "127.0.0.1", port: sys.sipPort },
      );
      await callee.nextMessage((m) => m.startsWith("MESSAGE "), 10_000);

      stopped = sys.stop(true);
      const draining = await waitFor(async () => {
        const res = await fetch(`${sys.adminUrl}/readyz`);
        return res.status === 503 ? ((await res.json()) as { ready: boolean; checks: Record<string, boolean> }) : undefined;
      }, { timeoutMs: 10_000, intervalMs: 20, what: "/readyz to answer 503 while draining" });
      expect(draining.ready).toBe(false);
      expect(draining.checks["notDraining"]).toBe(false);
      // Alive while draining: liveness must not kill a pod that is shutting down cleanly.
      expect((await fetch(`${sys.adminUrl}/healthz`)).status).toBe(200);
      expect(sample(await (await fetch(`${sys.adminUrl}/metrics`)).text(), "edgepath_draining")).toBe(1);
    } finally {
      await (stopped ?? sys.stop());
    }
  });
});
