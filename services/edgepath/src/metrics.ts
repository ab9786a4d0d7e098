/**
 * Prometheus metrics (prom-client), all prefixed `edgepath_`. Services count in plain
 * maps on the hot path (EdgeCounters); this module turns them into counters at scrape time
 * by adding the delta since the previous scrape, so a scrape costs O(label sets) and a
 * SIP message costs one Map update.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { EdgeCounters } from "@edgepath/edge";

export function createRegistry(role: string, nodeId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role, node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: "edgepath_process_" });
  return registry;
}

type CounterSource = () => Map<string, number>;

/** A counter whose value is read from a Map<labelValue, count> at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, labels: string[], source: CounterSource, split: (key: string) => Record<string, string>): void {
  const seen = new Map<string, number>();
  const counter: Counter<string> = new Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      for (const [key, value] of source()) {
        const delta = value - (seen.get(key) ?? 0);
        if (delta > 0) counter.inc(split(key), delta);
        seen.set(key, value);
      }
    },
  });
}

export function registerEdgeMetrics(registry: Registry, counters: EdgeCounters, gauges: { ringMembers(): number; flowsByTransport(): Record<string, number> }): void {
  mirroredCounter(registry, "edgepath_sip_requests_total", "SIP requests received by the edge, by method.", ["method"], () => counters.requests, (k) => ({ method: k }));
  mirroredCounter(registry, "edgepath_sip_forwarded_total", "SIP requests forwarded by the edge, by method.", ["method"], () => counters.forwards, (k) => ({ method: k }));
  mirroredCounter(registry, "edgepath_sip_responses_total", "SIP responses relayed by the edge, by status class.", ["class"], () => counters.responses, (k) => ({ class: k }));
  mirroredCounter(registry, "edgepath_sip_rejections_total", "Requests answered with an error by the edge, by status and reason.", ["status", "reason"], () => counters.rejections, (k) => {
    const i = k.indexOf(":");
    return { status: k.slice(0, i), reason: k.slice(i + 1) };
  });
  mirroredCounter(registry, "edgepath_sip_drops_total", "Messages dropped by the edge, by reason.", ["reason"], () => counters.drops, (k) => ({ reason: k }));
  const ring = new Gauge({ name: "edgepath_ring_members", help: "Registrar workers on the ring.", registers: [registry], collect() { ring.set(gauges.ringMembers()); } });
  const flows: Gauge<string> = new Gauge({
    name: "edgepath_flows",
    help: "Open flows at the edge, by transport.",
    labelNames: ["transport"],
    registers: [registry],
    collect() {
      flows.reset();
      for (const [t, n] of Object.entries(gauges.flowsByTransport())) flows.set({ transport: t }, n);
    },
  });
}
