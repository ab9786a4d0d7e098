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
import { Heartbeater } from "@edgepath/cluster";
import { AdminServer, type Readiness } from "./admin-http.js";
import { aorView, ringFromMembership, type RunningSystem } from "./compose.js";
import { createRegistry, registerEdgeMetrics } from "./metrics.js";

async function connectBus(config: EdgepathConfig, logger: Logger): Promise<NatsClusterBus> {
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
    onError: (err: unknown) => logger.warn({ err }, "nats: error"),
  });
}

export async function runEdge(config: EdgepathConfig, logger: Logger): Promise<RunningSystem> {
  const registry = createRegistry("edge", config.nodeId);
  const bus = await connectBus(config, logger);
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring);
  const codec = new FlowTokenCodec(config.secret);
  const edge = new EdgeProxy({
    id: config.nodeId,
    publicListen: config.sip.listen,
    internalListen: config.sip.internalListen,
    ...(config.sip.advertise !== undefined ? { internalAdvertise: `${config.sip.advertise.host}:${config.sip.advertise.port}` } : {}),
    domains: config.domains,
    flowTokens: codec,
    ring,
    bus,
    logger: logger.child({ component: "edge" }),
    limits: {
      maxMessageBytes: config.limits.maxMessageBytes,
      idleTimeoutMs: config.limits.tcpIdleTimeoutMs,
      maxConnections: config.limits.maxConnections,
      maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    },
  });
  await edge.start();
  const heartbeat = new Heartbeater(bus, { id: config.nodeId, role: "edge", sipAddress: edge.internalAddress, startedAt: Date.now() }, 1000);
  heartbeat.start();
  registerEdgeMetrics(registry, edge.counters, { ringMembers: () => ring.size, flowsByTransport: () => edge.transportStats().flowsByTransport });
  const admin = new AdminServer({
    role: "edge",
    nodeId: config.nodeId,
    registry,
    readiness: (): Readiness => {
      const checks = { nats: bus.connected, ring: ring.size > 0 };
      return { ready: checks.nats && checks.ring, checks };
    },
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
      membership.stop();
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
  const bus = await connectBus(config, logger);
  const store = new RedisBindingStore({
    url: r.url,
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.password !== undefined ? { password: r.password } : {}),
    ...(r.tls ? { tls: true } : {}),
  });
  const ring = new AorRing();
  const membership = ringFromMembership(bus, ring);
  const worker = new RegistrarWorker({
    id: config.nodeId,
    listen: { host: config.sip.internalListen.host, port: config.sip.internalListen.port },
    ...(config.sip.advertise !== undefined ? { advertise: `${config.sip.advertise.host}:${config.sip.advertise.port}` } : {}),
    domains: [...config.domains],
    store,
    bus,
    flowTokens: new FlowTokenCodec(config.secret),
    logger: logger.child({ component: "registrar" }),
    settings: config.registrar,
  });
  const { sipAddress } = await worker.start();
  const admin = new AdminServer({
    role: "registrar",
    nodeId: config.nodeId,
    registry,
    readiness: (): Readiness => {
      const checks = { nats: bus.connected, redis: store.connected, ring: ring.size > 0 };
      return { ready: checks.nats && checks.redis && checks.ring, checks };
    },
    aor: async (aor) => aorView(store, aor),
    ring: () => ({ version: ring.version, members: ring.members() }),
  });
  const http = await admin.listen(config.httpListen.host, config.httpListen.port);
  return {
    sipListeners: [],
    http,
    internal: [sipAddress],
    async stop(graceful) {
      await worker.stop({ graceful });
      membership.stop();
      await admin.close();
      await store.close();
      await bus.close();
    },
  };
}
