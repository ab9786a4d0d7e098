/**
 * Composition of the roles. Services choose implementations here and nowhere else
 * (CONVENTIONS §2): memory store + in-process bus for the embedded default, Redis + NATS
 * for a cluster. The same EdgeProxy and RegistrarWorker run in both.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { EdgepathConfig } from "@edgepath/config";
import { EdgeProxy } from "@edgepath/edge";
import { RegistrarWorker } from "@edgepath/registrar";
import { MemoryBindingStore, type BindingStore } from "@edgepath/bindings";
import { Heartbeater, InProcessBus, Membership, type ClusterBus } from "@edgepath/cluster";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { AorRing } from "@edgepath/ring";
import { AdminServer, type Readiness } from "./admin-http.js";
import { createRegistry, registerEdgeMetrics } from "./metrics.js";

export interface RunningSystem {
  readonly sipListeners: readonly { transport: string; host: string; port: number }[];
  readonly http: { host: string; port: number };
  readonly internal: string[];
  stop(graceful: boolean): Promise<void>;
}

const HEARTBEAT_MS = 1000;

/** Feeds an AorRing from live worker heartbeats (DESIGN §4: every edge computes the same ring). */
export function ringFromMembership(bus: ClusterBus, ring: AorRing): Membership {
  const workers = new Membership(bus, { role: "worker", ttlMs: 3 * HEARTBEAT_MS });
  workers.onChange((members) => {
    ring.setMembers(members.filter((m) => m.draining !== true).map((m) => ({ id: m.id, sipAddress: m.sipAddress })));
  });
  workers.start();
  return workers;
}

interface Parts {
  config: EdgepathConfig;
  logger: Logger;
  bus: ClusterBus;
  store: BindingStore | undefined;
  codec: FlowTokenCodec;
  registry: Registry;
}

async function startWorker(p: Parts, id: string, store: BindingStore): Promise<RegistrarWorker> {
  const c = p.config;
  const worker = new RegistrarWorker({
    id,
    listen: { host: c.sip.internalListen.host, port: c.role === "all" ? 0 : c.sip.internalListen.port },
    ...(c.role !== "all" && c.sip.advertise !== undefined ? { advertise: `${c.sip.advertise.host}:${c.sip.advertise.port}` } : {}),
    domains: [...c.domains],
    store,
    bus: p.bus,
    flowTokens: p.codec,
    logger: p.logger.child({ component: "registrar", worker: id }),
    settings: c.registrar,
  });
  await worker.start();
  return worker;
}

async function startEdge(p: Parts, ring: AorRing): Promise<{ edge: EdgeProxy; heartbeat: Heartbeater }> {
  const c = p.config;
  const edge = new EdgeProxy({
    id: c.nodeId,
    publicListen: c.sip.listen,
    internalListen: c.sip.internalListen,
    ...(c.sip.advertise !== undefined && c.sip.advertise.port !== 0 ? { internalAdvertise: `${c.sip.advertise.host}:${c.sip.advertise.port}` } : {}),
    domains: c.domains,
    flowTokens: p.codec,
    ring,
    bus: p.bus,
    logger: p.logger.child({ component: "edge" }),
    limits: {
      maxMessageBytes: c.limits.maxMessageBytes,
      idleTimeoutMs: c.limits.tcpIdleTimeoutMs,
      maxConnections: c.limits.maxConnections,
      maxConnectionsPerIp: c.limits.maxConnectionsPerIp,
    },
  });
  await edge.start();
  const heartbeat = new Heartbeater(p.bus, { id: c.nodeId, role: "edge", sipAddress: edge.internalAddress, startedAt: Date.now() }, HEARTBEAT_MS);
  heartbeat.start();
  registerEdgeMetrics(p.registry, edge.counters, {
    ringMembers: () => ring.size,
    flowsByTransport: () => edge.transportStats().flowsByTransport,
  });
  return { edge, heartbeat };
}

/** `edgepath all`: one edge and N workers in one process, memory store, in-process bus. */
export async function runAll(config: EdgepathConfig, logger: Logger): Promise<RunningSystem> {
  const registry = createRegistry("all", config.nodeId);
  const bus = new InProcessBus();
  const store = new MemoryBindingStore();
  const parts: Parts = { config, logger, bus, store, codec: new FlowTokenCodec(config.secret), registry };
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring);
  const workers: RegistrarWorker[] = [];
  for (let i = 0; i < config.workers; i++) workers.push(await startWorker(parts, `${config.nodeId}-w${i + 1}`, store));
  const { edge, heartbeat } = await startEdge(parts, ring);
  await waitUntil(() => ring.size >= config.workers, 5000);

  const admin = new AdminServer({
    role: "all",
    nodeId: config.nodeId,
    registry,
    readiness: (): Readiness => {
      const checks = { ring: ring.size > 0, bus: bus.connected };
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    aor: async (aor) => aorView(store, aor),
    ring: () => ({ version: ring.version, members: ring.members() }),
    flows: () => ({ flows: edge.flows() }),
  });
  const http = await admin.listen(config.httpListen.host, config.httpListen.port);
  return {
    sipListeners: edge.listeners,
    http,
    internal: [edge.internalAddress],
    async stop(graceful) {
      heartbeat.stop(graceful);
      await edge.stopAccepting();
      await Promise.all(workers.map((w) => w.stop({ graceful })));
      membership.stop();
      await edge.stop();
      await admin.close();
      await store.close();
      await bus.close();
    },
  };
}

export async function aorView(store: BindingStore, aor: string): Promise<unknown> {
  const now = Date.now();
  const { known, bindings } = await store.lookup(aor, now);
  return {
    aor,
    known,
    bindings: bindings.map((b) => ({
      contact: b.contact,
      expires: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
      path: b.path,
      edge: b.edge ?? null,
      transport: b.transport ?? null,
      source: b.source ?? null,
      reachable: b.reachable,
      lastSeen: new Date(b.lastSeen).toISOString(),
      reason: b.reason ?? null,
      instance: b.instance ?? null,
      regId: b.regId ?? null,
      q: b.q,
      callId: b.callId,
      cseq: b.cseq,
      userAgent: b.userAgent ?? null,
    })),
  };
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
