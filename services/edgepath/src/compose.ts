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
import {
  MemoryCredentialStore,
  credentialFor,
  credentialKeyOf,
  SipAuthenticator,
  SourceRateLimiter,
  SourceStamp,
  TrustedNetworks,
  type CredentialStore,
  type NonceCounter,
} from "@edgepath/auth";
import type { SipRequest } from "@edgepath/sip";
import { AdminServer, type Readiness } from "./admin-http.js";
import { subscribeFlowAlive } from "./flow-alive.js";
import {
  createRegistry,
  readinessOf,
  registerBindingCensus,
  registerDrainingMetric,
  registerEdgeMetrics,
  registerReadinessMetrics,
  registerRingMetric,
  registerStoreMetrics,
  registerWorkerMetrics,
  type OnProxyFinal,
  type OnRegister,
} from "./metrics.js";

export interface RunningSystem {
  readonly sipListeners: readonly { transport: string; host: string; port: number }[];
  readonly http: { host: string; port: number };
  readonly internal: string[];
  /** The digest credential store of this process (memory in all-mode, Redis for a registrar). */
  readonly credentials?: CredentialStore;
  stop(graceful: boolean): Promise<void>;
}

/**
 * An edge's graceful drain (EdgeProxy.drain): done after 1 s without a message (above T1 = 500 ms,
 * RFC 3261 §17.1.1.1, so a UA's pending retransmission keeps it open), at most 8 s under sustained
 * load — inside main.ts's 15 s bound, and well inside Kubernetes' default 30 s grace period.
 */
export const EDGE_DRAIN = { quietMs: 1000, timeoutMs: 8000 } as const;

/**
 * Feeds an AorRing from live worker heartbeats (DESIGN §4: every edge computes the same ring).
 * `ttlMs` is EDGEPATH_MEMBER_TTL_MS: a worker silent that long leaves the ring.
 */
export function ringFromMembership(bus: ClusterBus, ring: AorRing, ttlMs: number): Membership {
  const workers = new Membership(bus, { role: "worker", ttlMs });
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
  credentials?: CredentialStore & NonceCounter;
  /** Metrics hook for every REGISTER outcome (metrics.ts registerWorkerMetrics). */
  onRegister?: OnRegister;
  /** Metrics hook for the location proxy's final responses. */
  onProxyFinal?: OnProxyFinal;
}

type AuthHook = (req: SipRequest) => Promise<Buffer | undefined>;

/**
 * DESIGN §6: digest auth for a worker, REGISTER (401) and other initial requests (407), or
 * nothing when EDGEPATH_AUTH=off. Challenges without credentials are the normal first step of
 * every REGISTER and are logged at debug; real failures (wrong password, replay, not the owner)
 * at info, with the cause.
 */
export function authHooks(
  config: EdgepathConfig,
  credentials: CredentialStore & NonceCounter,
  logger: Logger,
): { authorize?: AuthHook; authorizeRequest?: AuthHook; realms?: ReadonlySet<string> } {
  if (config.auth.mode === "off") return {};
  const authenticator = new SipAuthenticator({
    secret: config.secret,
    domains: config.domains,
    domainAliases: config.domainAliases,
    ...(config.auth.realm !== undefined ? { realm: config.auth.realm } : {}),
    credentials,
    nonceCounter: credentials,
    trusted: new TrustedNetworks(config.auth.trustedCidrs),
    nonceTtlMs: config.auth.nonceTtlSec * 1000,
  });
  const hook: AuthHook = async (req) => {
    const d = await authenticator.authorize(req);
    if (d.kind === "pass") return undefined;
    const quiet = d.why === "no-credentials" || d.why === "stale-nonce";
    logger[quiet ? "debug" : "info"]({ why: d.why, status: d.status, user: d.user, src: d.source, method: req.method, callId: req.callId }, "auth: request refused");
    return d.response;
  };
  // RFC 3261 §22.3: the realms whose Proxy-Authorization the location proxy consumes (strips).
  const realms = new Set([...config.domains, ...(config.auth.realm !== undefined ? [config.auth.realm] : [])].map((r) => r.toLowerCase()));
  return { authorize: hook, authorizeRequest: hook, realms };
}

/** DESIGN §6: the edge's admission limits and source stamp from config. */
export function edgeAdmission(config: EdgepathConfig): NonNullable<ConstructorParameters<typeof EdgeProxy>[0]["admission"]> {
  const l = config.limits;
  return {
    ...(l.ratePerSec > 0 ? { rate: new SourceRateLimiter({ ratePerSec: l.ratePerSec, burst: l.rateBurst }) } : {}),
    rateAction: l.rateAction,
    limits: { maxHeaders: l.maxHeaders, maxVia: l.maxVia, maxRoute: l.maxRoute },
    sourceStamp: new SourceStamp(config.secret),
  };
}

/** DESIGN §6: the edge's transport limits (sizes, connections, idle and header-read timeouts) from config. */
export function edgeTransportLimits(config: EdgepathConfig): NonNullable<ConstructorParameters<typeof EdgeProxy>[0]["limits"]> {
  const l = config.limits;
  return {
    maxMessageBytes: l.maxMessageBytes,
    idleTimeoutMs: l.tcpIdleTimeoutMs,
    headerReadTimeoutMs: l.headerReadTimeoutMs,
    maxConnections: l.maxConnections,
    maxConnectionsPerIp: l.maxConnectionsPerIp,
    wsAllowedOrigins: l.wsAllowedOrigins,
  };
}

async function startWorker(p: Parts, id: string, store: BindingStore): Promise<RegistrarWorker> {
  const c = p.config;
  const worker = new RegistrarWorker({
    id,
    listen: { host: c.sip.internalListen.host, port: c.role === "all" ? 0 : c.sip.internalListen.port },
    ...(c.role !== "all" && c.sip.advertise !== undefined ? { advertise: `${c.sip.advertise.host}:${c.sip.advertise.port}` } : {}),
    domains: [...c.domains],
    domainAliases: c.domainAliases,
    store,
    bus: p.bus,
    flowTokens: p.codec,
    logger: p.logger.child({ component: "registrar", worker: id }),
    settings: c.registrar,
    queueDelayTargetMs: c.registrar.overloadQueueDelayMs,
    heartbeatMs: c.cluster.heartbeatMs,
    ...(p.credentials !== undefined ? authHooks(c, p.credentials, p.logger.child({ component: "auth", worker: id })) : {}),
    ...(p.onRegister !== undefined ? { onRegister: p.onRegister } : {}),
    ...(p.onProxyFinal !== undefined ? { onProxyFinal: p.onProxyFinal } : {}),
  });
  await worker.start();
  return worker;
}

/** DESIGN §3: OPTIONS pinging of UDP contacts at the edge (EDGEPATH_UDP_PING_INTERVAL_MS; 0 = off). */
export function edgeUdpPing(config: EdgepathConfig): { udpPing?: { intervalMs: number; timeoutMs: number } } {
  const r = config.reachability;
  return r.udpPingIntervalMs > 0 ? { udpPing: { intervalMs: r.udpPingIntervalMs, timeoutMs: r.udpPingTimeoutMs } } : {};
}

async function startEdge(p: Parts, ring: AorRing): Promise<{ edge: EdgeProxy; heartbeat: Heartbeater }> {
  const c = p.config;
  const edge = new EdgeProxy({
    id: c.nodeId,
    publicListen: c.sip.listen,
    internalListen: c.sip.internalListen,
    ...(c.sip.advertise !== undefined && c.sip.advertise.port !== 0 ? { internalAdvertise: `${c.sip.advertise.host}:${c.sip.advertise.port}` } : {}),
    ...(c.sip.publicAdvertise !== undefined ? { publicAdvertise: c.sip.publicAdvertise } : {}),
    domains: c.domains,
    domainAliases: c.domainAliases,
    flowTokens: p.codec,
    ring,
    bus: p.bus,
    logger: p.logger.child({ component: "edge" }),
    ...(c.sip.tls !== undefined ? { tls: c.sip.tls } : {}),
    limits: edgeTransportLimits(c),
    admission: edgeAdmission(c),
    ...edgeUdpPing(c),
  });
  await edge.start();
  const heartbeat = new Heartbeater(p.bus, { id: c.nodeId, role: "edge", sipAddress: edge.internalAddress, startedAt: Date.now() }, c.cluster.heartbeatMs);
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
  const memoryStore = new MemoryBindingStore();
  // Metrics see the store through the interface the workers take (timing + error counts).
  const store = registerStoreMetrics(registry, "memory").instrument(memoryStore);
  const credentials = new MemoryCredentialStore();
  const workers: RegistrarWorker[] = [];
  const { onRegister, onProxyFinal } = registerWorkerMetrics(registry, () => workers);
  const parts: Parts = { config, logger, bus, store, codec: new FlowTokenCodec(config.secret), registry, credentials, onRegister, onProxyFinal };
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring, config.cluster.memberTtlMs);
  for (let i = 0; i < config.workers; i++) workers.push(await startWorker(parts, `${config.nodeId}-w${i + 1}`, store));
  const { edge, heartbeat } = await startEdge(parts, ring);
  await waitUntil(() => ring.size >= config.workers, 5000);
  // DESIGN §3: a UDP flow that answers the edge's pings again makes its bindings reachable.
  const flowAlive = subscribeFlowAlive(bus, store, logger.child({ component: "registrar" }));

  // DESIGN §5: not ready while draining, so a load balancer stops sending before we stop accepting.
  let draining = false;
  const readiness = (): Readiness => readinessOf({ ring: ring.size > 0, bus: bus.connected }, draining);
  registerRingMetric(registry, () => ring.size);
  // The memory store counts its bindings in microseconds: a fresh census on nearly every scrape.
  registerBindingCensus(registry, store, { maxAgeMs: 1000 });
  registerReadinessMetrics(registry, readiness);
  registerDrainingMetric(registry, () => draining);
  const admin = new AdminServer({
    role: "all",
    nodeId: config.nodeId,
    registry,
    readiness,
    aor: async (aor) => aorView(store, aor),
    ring: () => ({ version: ring.version, members: ring.members() }),
    flows: () => ({ flows: edge.flows() }),
    users: {
      // Same realm rule as the authenticator: EDGEPATH_AUTH_REALM, else the AOR's domain.
      async add(aor, password) {
        const c = credentialFor(aor, password, config.auth.realm);
        await credentials.put(c);
        return { username: c.username, realm: c.realm };
      },
      remove(aor) {
        const k = credentialKeyOf(aor, config.auth.realm);
        return credentials.remove(k.username, k.realm);
      },
    },
  });
  const http = await admin.listen(config.httpListen.host, config.httpListen.port);
  return {
    sipListeners: edge.listeners,
    http,
    internal: [edge.internalAddress],
    credentials,
    async stop(graceful) {
      draining = true;
      heartbeat.stop(graceful);
      await edge.stopAccepting();
      // The edge drains first, while the workers still answer what it forwards.
      if (graceful) await edge.drain(EDGE_DRAIN);
      await Promise.all(workers.map((w) => w.stop({ graceful })));
      membership.stop();
      flowAlive.unsubscribe();
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
