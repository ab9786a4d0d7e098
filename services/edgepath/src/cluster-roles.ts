/**
 * `edgepath edge` and `edgepath registrar`: one role per process (pod), sharing state
 * through Redis (bindings, the truth) and NATS (membership and events), DESIGN §4.
 */
import type { Logger } from "pino";
import type { EdgepathConfig } from "@edgepath/config";
import { RedisBindingStore } from "@edgepath/bindings-redis";
import { NatsClusterBus } from "@edgepath/cluster-nats";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { AorRing } from "@edgepath/ring";
import { EdgeProxy } from "@edgepath/edge";
import { RegistrarWorker } from "@edgepath/registrar";
import { EdgeDownPublisher, Heartbeater, Membership, Subjects, type BindingChanged } from "@edgepath/cluster";
import { CachedBindingStore, type BindingStore } from "@edgepath/bindings";
import { AdminServer, processDrain, type Readiness } from "./admin-http.js";
import { aorView, authHooks, EDGE_DRAIN, edgeAdmission, edgeTransportLimits, edgeUdpPing, ringFromMembership, type RunningSystem } from "./compose.js";
import { subscribeFlowAlive } from "./flow-alive.js";
import { RedisCredentialStore } from "@edgepath/auth";
import {
  createRegistry,
  readinessOf,
  registerBindingCensus,
  registerDatasetLost,
  registerDrainingMetric,
  registerEdgeMetrics,
  registerNatsErrors,
  registerReadinessMetrics,
  registerRingMetric,
  registerStoreMetrics,
  registerWorkerMetrics,
} from "./metrics.js";

/** `onNatsError` counts into edgepath_nats_errors_total (DESIGN §5: Redis/NATS errors are metrics). */
async function connectBus(config: EdgepathConfig, logger: Logger, onNatsError: () => void): Promise<NatsClusterBus> {
  const n = config.nats;
  if (n === undefined) throw new Error("NATS_URL: required for this role");
  return NatsClusterBus.connect({
    servers: [...n.servers],
    name: `edgepath-${config.role}-${config.nodeId}`,
    ...(n.user !== undefined ? { user: n.user } : {}),
    ...(n.password !== undefined ? { pass: n.password } : {}),
    ...(n.token !== undefined ? { token: n.token } : {}),
    ...(n.credsFile !== undefined ? { credsFile: n.credsFile } : {}),
    ...(n.tls ? { tls: true } : {}),
    onError: (err: unknown) => {
      onNatsError();
      logger.warn({ err }, "nats: error");
    },
  });
}

export async function runEdge(config: EdgepathConfig, logger: Logger): Promise<RunningSystem> {
  const registry = createRegistry("edge", config.nodeId);
  const bus = await connectBus(config, logger, registerNatsErrors(registry));
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring, config.cluster.memberTtlMs);
  logRingChanges(membership, ring, logger);
  const codec = new FlowTokenCodec(config.secret);
  // DESIGN §6: other edges' internal sockets are internal too (Route trust check).
  const peers = new Membership(bus, { role: "edge", ttlMs: config.cluster.memberTtlMs });
  let peerEdges: ReadonlySet<string> = new Set();
  peers.onChange((members) => {
    peerEdges = new Set(members.map((m) => m.sipAddress.toLowerCase()));
  });
  peers.start();
  const edge = new EdgeProxy({
    id: config.nodeId,
    publicListen: config.sip.listen,
    internalListen: config.sip.internalListen,
    ...advertised(config, "internalAdvertise"),
    ...(config.sip.publicAdvertise !== undefined ? { publicAdvertise: config.sip.publicAdvertise } : {}),
    domains: config.domains,
    domainAliases: config.domainAliases,
    flowTokens: codec,
    ring,
    bus,
    logger: logger.child({ component: "edge" }),
    ...(config.sip.tls !== undefined ? { tls: config.sip.tls } : {}),
    limits: edgeTransportLimits(config),
    admission: edgeAdmission(config),
    peerEdges: () => peerEdges,
    ...edgeUdpPing(config),
  });
  await edge.start();
  const heartbeat = new Heartbeater(bus, { id: config.nodeId, role: "edge", sipAddress: edge.internalAddress, startedAt: Date.now() }, config.cluster.heartbeatMs);
  heartbeat.start();
  registerEdgeMetrics(registry, edge.counters, { ringMembers: () => ring.size, flowsByTransport: () => edge.transportStats().flowsByTransport });
  // DESIGN §5: not ready while draining (SIGTERM flips processDrain before anything stops).
  const readiness = (): Readiness => readinessOf({ nats: bus.connected, ring: ring.size > 0 }, processDrain.draining);
  registerReadinessMetrics(registry, readiness);
  registerDrainingMetric(registry, () => processDrain.draining);
  const admin = new AdminServer({
    role: "edge",
    nodeId: config.nodeId,
    registry,
    readiness,
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
      // DESIGN §5: drain before closing: responses to what we forwarded still reach the UAs.
      if (graceful) await edge.drain(EDGE_DRAIN);
      membership.stop();
      peers.stop();
      await edge.stop();
      await admin.close();
      await bus.close();
    },
  };
}

export async function runRegistrar(config: EdgepathConfig, logger: Logger): Promise<RunningSystem> {
  const registry = createRegistry("registrar", config.nodeId);
  const r = config.redis;
  if (r === undefined) throw new Error("REDIS_URL: required for the registrar role");
  const bus = await connectBus(config, logger, registerNatsErrors(registry));
  // Credentials and TLS go to ioredis (options over the URL's); `rediss://` implies TLS already.
  const redisOpts = {
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.password !== undefined ? { password: r.password } : {}),
    ...(r.tls ? { tls: {} } : {}),
  };
  const redisLog = redisErrorLog(logger, "bindings");
  const countDatasetLost = registerDatasetLost(registry);
  // Set once the cache exists: a loss seen before that has no cache to clear.
  let onDatasetLost = (): void => undefined;
  const redisStore = new RedisBindingStore({
    url: r.url,
    redis: redisOpts,
    onError: redisLog,
    onDatasetLost: (ev) => {
      countDatasetLost();
      logger.error(
        { previousDataset: ev.previous, dataset: ev.current },
        "redis lost its data (restarted without persistence, flushed, or failed over to an empty replica): every binding and credential stored there is gone; phones come back as they re-register, credentials must be provisioned again",
      );
      onDatasetLost();
    },
    onDatasetCreated: (id) =>
      logger.warn(
        { dataset: id },
        "redis had no edgepath dataset marker: a new Redis, or one that lost its data while no registrar was connected (bindings and credentials from before are gone)",
      ),
  });
  // DESIGN §5: every Redis round trip timed, every failure counted (edgepath_store_*{backend="redis"}).
  const store = registerStoreMetrics(registry, "redis").instrument(redisStore);
  // DESIGN §4/§6: credentials (HA1) and nonce counts live in the same Redis as the bindings.
  const credentials = new RedisCredentialStore({
    url: r.url,
    redis: redisOpts,
    onError: (err) => logger.debug({ err: err.message }, "redis (credentials): error"),
  });
  // A worker joins the ring (its first heartbeat) only once it can read the truth: a worker
  // without Redis would take its share of AORs and answer 503 for all of them.
  await waitForRedis(redisStore, logger);
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring, config.cluster.memberTtlMs);
  logRingChanges(membership, ring, logger);
  // DESIGN §4: the owner worker caches its AORs' bindings in front of Redis. Writes through
  // it invalidate; other workers' REGISTERs arrive as bindingChanged; a ring change forgets
  // all (AORs that moved away and back were written meanwhile); entries live 5 s at most.
  const cached = new CachedBindingStore(store, { maxEntries: 10_000, ttlMs: 5000 });
  const cacheSubs = [
    bus.subscribe(Subjects.bindingChanged, (m) => {
      try {
        const ev = m.json<Partial<BindingChanged>>();
        if (typeof ev.aor === "string" && ev.by !== config.nodeId) cached.invalidate(ev.aor);
      } catch {
        cached.clear(); // unreadable event: be safe
      }
    }),
    // DESIGN §3: a UDP flow that answers an edge's pings again makes its bindings reachable.
    subscribeFlowAlive(bus, cached, logger.child({ component: "registrar" })),
  ];
  membership.onChange(() => cached.clear());
  // The cache must not answer for bindings the truth no longer holds.
  onDatasetLost = () => cached.clear();
  const workers: RegistrarWorker[] = [];
  const { onRegister, onProxyFinal } = registerWorkerMetrics(registry, () => workers);
  const worker = new RegistrarWorker({
    id: config.nodeId,
    listen: { host: config.sip.internalListen.host, port: config.sip.internalListen.port },
    ...advertised(config, "advertise"),
    domains: [...config.domains],
    domainAliases: config.domainAliases,
    store: cached,
    bus,
    flowTokens: new FlowTokenCodec(config.secret),
    logger: logger.child({ component: "registrar" }),
    settings: config.registrar,
    queueDelayTargetMs: config.registrar.overloadQueueDelayMs,
    heartbeatMs: config.cluster.heartbeatMs,
    onRegister,
    onProxyFinal,
    ...authHooks(config, credentials, logger.child({ component: "auth" })),
  });
  workers.push(worker);
  const { sipAddress } = await worker.start();
  // DESIGN §3: an edge whose heartbeats stop takes its flows with it; one worker reports it
  // (edgeDown) and every worker's handler marks the bindings behind that edge unreachable.
  const edges = new Membership(bus, { role: "edge", ttlMs: config.cluster.memberTtlMs });
  edges.start();
  const edgeDown = new EdgeDownPublisher(bus, edges, {
    self: config.nodeId,
    ownerOf: (key) => ring.ownerOf(key)?.id,
    isWorkerLive: (id) => ring.members().some((m) => m.id === id),
    onPublished: (ev) => logger.warn({ edge: ev.edge }, "edge heartbeats stopped: published edge-down"),
    onPublishedUp: (ev) => logger.info({ edge: ev.edge, startedAt: ev.startedAt }, "edge process back or restarted: published edge-up"),
  });
  edgeDown.start();
  // DESIGN §4: expiry is enforced on read and swept in the background. Every worker sweeps;
  // the store's per-AOR compare-and-set makes concurrent sweeps safe, and a batch limit keeps
  // each run short. Redis being down only skips a round.
  const sweeper = startSweeper(store, () => redisStore.connected, logger);
  const readiness = (): Readiness => readinessOf({ nats: bus.connected, redis: redisStore.connected, ring: ring.size > 0 }, processDrain.draining);
  registerRingMetric(registry, () => ring.size);
  // A census reads up to 10 000 AORs from Redis: at most once per 5 s, never on a SIP path.
  registerBindingCensus(registry, store);
  registerReadinessMetrics(registry, readiness);
  registerDrainingMetric(registry, () => processDrain.draining);
  const admin = new AdminServer({
    role: "registrar",
    nodeId: config.nodeId,
    registry,
    readiness,
    aor: async (aor) => aorView(store, aor),
    ring: () => ({ version: ring.version, members: ring.members() }),
  });
  const http = await admin.listen(config.httpListen.host, config.httpListen.port);
  return {
    sipListeners: [],
    http,
    internal: [sipAddress],
    credentials,
    async stop(graceful) {
      clearInterval(sweeper);
      for (const s of cacheSubs) s.unsubscribe();
      edgeDown.stop();
      edges.stop();
      await worker.stop({ graceful });
      membership.stop();
      await admin.close();
      await store.close();
      await credentials.close();
      await bus.close();
    },
  };
}

const SWEEP_EVERY_MS = 10_000;
const SWEEP_BATCH = 1000;

function startSweeper(store: BindingStore, connected: () => boolean, logger: Logger): ReturnType<typeof setInterval> {
  let running = false;
  const t = setInterval(() => {
    if (running || !connected()) return;
    running = true;
    store
      .sweepExpired(Date.now(), SWEEP_BATCH)
      .then((removed) => {
        if (removed > 0) logger.debug({ removed }, "expiry sweep");
      })
      .catch((err: unknown) => logger.debug({ err: err instanceof Error ? err.message : String(err) }, "expiry sweep skipped"))
      .finally(() => {
        running = false;
      });
  }, SWEEP_EVERY_MS);
  t.unref();
  return t;
}

/**
 * Redis connection errors repeat on every reconnect attempt while Redis is down: log the
 * first of a run at warn and the rest at debug, so an outage is one line, not thousands.
 */
function redisErrorLog(logger: Logger, what: string): (err: Error) => void {
  let last = "";
  let lastAt = 0;
  return (err) => {
    const now = Date.now();
    const quiet = err.message === last && now - lastAt < 60_000;
    if (!quiet) {
      last = err.message;
      lastAt = now;
    }
    logger[quiet ? "debug" : "warn"]({ err: err.message }, `redis (${what}): error`);
  };
}

/**
 * The internal address to advertise in heartbeats and Path/Via. A port of 0 means "the port
 * EDGEPATH_INTERNAL_LISTEN was bound to": with the listen host that is simply the bound
 * address, which the services report by themselves; another host with port 0 has no knowable
 * port before binding, so it is refused with the setting's name.
 */
function advertised<K extends string>(config: EdgepathConfig, key: K): { [P in K]?: string } {
  const a = config.sip.advertise;
  if (a === undefined) return {};
  if (a.port === 0) {
    if (a.host === config.sip.internalListen.host) return {};
    throw new Error(`EDGEPATH_ADVERTISE: port 0 with host ${a.host} needs EDGEPATH_INTERNAL_LISTEN with a fixed port`);
  }
  const host = a.host.includes(":") && !a.host.startsWith("[") ? `[${a.host}]` : a.host;
  return { [key]: `${host}:${a.port}` } as { [P in K]?: string };
}

/** Operators want to see the ring move (who joined, who left, its version). */
function logRingChanges(workers: Membership, ring: AorRing, logger: Logger): void {
  workers.onChange((members) => logger.info({ ringVersion: ring.version, workers: members.map((m) => (m.draining === true ? `${m.id}(draining)` : m.id)) }, "ring members changed"));
}

const REDIS_START_TIMEOUT_MS = 30_000;

async function waitForRedis(store: RedisBindingStore, logger: Logger): Promise<void> {
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  for (;;) {
    try {
      await store.waitUntilReady(5000);
      return;
    } catch (err) {
      if (Date.now() >= deadline) {
        throw new Error(`REDIS_URL: Redis not reachable within ${REDIS_START_TIMEOUT_MS / 1000} s`, { cause: err });
      }
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "waiting for Redis before joining the ring");
    }
  }
}
