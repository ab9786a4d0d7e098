import { connect } from "node:net";
import type { Socket } from "node:net";
import { addressFamily, isWildcard, normaliseAddress, stripBrackets } from "./address.js";
import { ConnectionLimiter } from "./connection-limits.js";
import { TransportError } from "./errors.js";
import { StreamConnection, remoteKey } from "./stream-connection.js";
import type { StreamConnectionHost } from "./stream-connection.js";
import type { StreamListener } from "./stream-listener.js";
import { TcpListener } from "./tcp-listener.js";
import { UdpListener } from "./udp-listener.js";
import type { UdpListenerHost } from "./udp-listener.js";
import { DEFAULT_LIMITS } from "./types.js";
import type {
  BoundListener,
  DropSource,
  FlowCloseReason,
  FlowInfo,
  FlowRef,
  ListenSpec,
  SendResult,
  SendTarget,
  TransportDelegate,
  TransportKind,
  TransportLimits,
} from "./types.js";

export interface TransportLayerOptions {
  readonly listen: readonly ListenSpec[];
  readonly delegate: TransportDelegate;
  readonly limits?: Partial<TransportLimits>;
}

export interface TransportStats {
  /** Open (or connecting) connection flows per transport; UDP has no connections and reports 0. */
  readonly flowsByTransport: Record<string, number>;
  /** Everything reported through onDrop since start. */
  readonly drops: number;
}

const SEND_STOPPED = { ok: false, reason: "stopped" } as const;
const SEND_NO_LISTENER = { ok: false, reason: "no-listener" } as const;
const SEND_FLOW_GONE = { ok: false, reason: "flow-gone" } as const;
const SEND_BACKPRESSURE = { ok: false, reason: "backpressure" } as const;
const SEND_BAD_ADDRESS = { ok: false, reason: "bad-address" } as const;
const SEND_UNSUPPORTED = { ok: false, reason: "unsupported-transport" } as const;

/**
 * The SIP transport layer (RFC 3261 §18): listeners, connection flows (RFC 5626), keepalives, limits.
 * No SIP routing: bytes in (onMessage per message), bytes out (send / sendOnFlow).
 *
 * Choices, in the terms a Kamailio/OpenSIPS operator would look for:
 * - Outbound TCP connections are opened only if a TCP listener of the target's address family exists
 *   (its address is what our Via advertises); they bind that listener's address when it is not a
 *   wildcard, and an ephemeral port. They do not count against the inbound connection limits.
 * - A connection is reused by remote ip:port whichever side opened it (RFC 3261 §18.1.1 / §18.2.2).
 * - Addresses given to send() must be IP literals: resolving names (RFC 3263) is the caller's job.
 * - UDP messages larger than the path MTU are sent as given; switching to TCP (§18.1.1) is the caller's.
 */
export class TransportLayer implements StreamConnectionHost, UdpListenerHost {
  readonly delegate: TransportDelegate;
  private readonly specs: readonly ListenSpec[];
  private readonly limits: TransportLimits;
  private readonly limiter: ConnectionLimiter;
  private udp: UdpListener[] = [];
  private stream: StreamListener[] = [];
  private bound: BoundListener[] = [];
  private readonly connections = new Map<number, StreamConnection>();
  private readonly byRemote = new Map<string, StreamConnection>();
  private nextConnectionId = 1;
  private dropCount = 0;
  private state: "new" | "starting" | "running" | "stopped" = "new";
  private allClosed: (() => void) | undefined;

  constructor(opts: TransportLayerOptions) {
    this.specs = opts.listen;
    this.delegate = opts.delegate;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.limiter = new ConnectionLimiter(this.limits.maxConnections, this.limits.maxConnectionsPerIp);
  }

  /**
   * Bind every listener. Rejects with a TransportError naming the listen setting
   * (`transport:host:port`) on a spec that is not supported or cannot be bound; listeners already
   * bound are closed again in that case.
   */
  async start(): Promise<BoundListener[]> {
    if (this.state !== "new") throw new Error("TransportLayer.start() may be called once");
    this.state = "starting";
    const udp: UdpListener[] = [];
    const stream: StreamListener[] = [];
    try {
      for (const spec of this.specs) {
        const name = spec.transport + ":" + spec.host + ":" + spec.port;
        const host = stripBrackets(spec.host);
        const family = addressFamily(host);
        if (family === 0) {
          throw new TransportError("bad-listen-address", name, `listen ${name}: host must be an IPv4 or IPv6 literal`);
        }
        if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) {
          throw new TransportError("bad-listen-address", name, `listen ${name}: port must be 0..65535`);
        }
        switch (spec.transport) {
          case "udp":
            udp.push(new UdpListener(host, spec.port, family, this, this.limits));
            break;
          case "tcp":
            stream.push(new TcpListener(host, spec.port, family, this.accept, this.acceptError));
            break;
          case "tls":
          case "ws":
          case "wss":
            throw new TransportError(
              "unsupported-transport",
              name,
              `listen ${name}: transport "${spec.transport}" is not supported yet (supported: udp, tcp)`,
            );
          default: {
            const t: never = spec.transport;
            throw new TransportError("unsupported-transport", name, `listen ${name}: unknown transport "${String(t)}"`);
          }
        }
      }
      // One at a time so the error names the first spec that failed and nothing is left half-bound.
      const bound: BoundListener[] = [];
      this.udp = udp;
      this.stream = stream;
      for (const l of udp) bound.push(await l.bind());
      for (const l of stream) bound.push(await l.listen());
      // Report in the order of the specs.
      this.bound = this.specs.map((s) => {
        const host = stripBrackets(s.host);
        const i = bound.findIndex((b) => b.transport === s.transport && b.host === host && (s.port === 0 || b.port === s.port));
        const [b] = bound.splice(i, 1);
        return b!;
      });
      this.state = "running";
      return [...this.bound];
    } catch (err) {
      await Promise.all([...udp.map((l) => l.close()), ...stream.map((l) => l.closed())]);
      this.udp = [];
      this.stream = [];
      this.state = "stopped";
      throw err;
    }
  }

  listeners(): readonly BoundListener[] {
    return this.bound;
  }

  /**
   * Send a message to a transport address (RFC 3261 §18.1.1 requests, §18.2.2 responses without a
   * usable flow). UDP: from a listener of the target's family. TCP: over an open connection to
   * that ip:port if one exists, else a new connection (writes queue while it connects; a failed
   * connect is reported through onFlowClosed with reason "error").
   */
  send(bytes: Buffer, target: SendTarget): SendResult {
    if (this.state !== "running") return SEND_STOPPED;
    const address = normaliseAddress(stripBrackets(target.address));
    const family = addressFamily(address);
    if (family === 0 || !validPort(target.port)) return SEND_BAD_ADDRESS;
    switch (target.transport) {
      case "udp":
        return this.sendUdp(bytes, family, address, target.port, undefined, undefined);
      case "tcp": {
        const existing = this.byRemote.get(remoteKey("tcp", address, target.port));
        if (existing !== undefined && existing.writable) return this.writeTo(existing, bytes);
        return this.connectAndSend(bytes, "tcp", family, address, target.port);
      }
      default:
        return SEND_UNSUPPORTED;
    }
  }

  /**
   * Send over one flow. Connection-oriented: only over that exact connection (RFC 5626 §5.3: a
   * request for a flow must not be sent over another one), "flow-gone" if it closed. UDP: from the
   * listener bound to the flow's local address and port when given and still there (else any
   * listener of the peer's family) to the remote address.
   */
  sendOnFlow(bytes: Buffer, flow: FlowRef): SendResult {
    if (this.state !== "running") return SEND_STOPPED;
    if (flow.transport === "udp") {
      const address = normaliseAddress(stripBrackets(flow.remoteAddress));
      const family = addressFamily(address);
      if (family === 0 || !validPort(flow.remotePort)) return SEND_BAD_ADDRESS;
      return this.sendUdp(bytes, family, address, flow.remotePort, flow.localAddress, flow.localPort);
    }
    const conn = this.connections.get(flow.id);
    if (conn === undefined || conn.flow.transport !== flow.transport) return SEND_FLOW_GONE;
    return this.writeTo(conn, bytes);
  }

  getFlow(id: number): FlowInfo | undefined {
    return this.connections.get(id)?.flow;
  }

  /** Every connection flow (open or connecting). UDP has no per-peer state and is not listed. */
  flows(): FlowInfo[] {
    const out: FlowInfo[] = [];
    for (const c of this.connections.values()) out.push(c.flow);
    return out;
  }

  findConnection(transport: TransportKind, remoteAddress: string, remotePort: number): FlowInfo | undefined {
    const conn = this.byRemote.get(remoteKey(transport, normaliseAddress(stripBrackets(remoteAddress)), remotePort));
    return conn !== undefined && conn.writable ? conn.flow : undefined;
  }

  /** Close a connection flow gracefully (queued writes are flushed); onFlowClosed says "local-close". */
  closeFlow(id: number): void {
    this.connections.get(id)?.close("local-close", true);
  }

  /** Graceful drain, step one: close listening stream servers; flows and UDP sockets keep working. */
  stopAccepting(): Promise<void> {
    for (const l of this.stream) l.stopAccepting();
    return Promise.resolve();
  }

  /** Close every listener and connection (onFlowClosed "local-close"), clear timers; resolves when all are closed. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    for (const l of this.stream) l.stopAccepting();
    const connectionsClosed =
      this.connections.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.allClosed = resolve));
    for (const c of [...this.connections.values()]) c.close("local-close", false);
    await Promise.all([connectionsClosed, ...this.stream.map((l) => l.closed()), ...this.udp.map((l) => l.close())]);
  }

  stats(): TransportStats {
    const flowsByTransport: Record<string, number> = { udp: 0, tcp: 0 };
    for (const c of this.connections.values()) {
      flowsByTransport[c.flow.transport] = (flowsByTransport[c.flow.transport] ?? 0) + 1;
    }
    return { flowsByTransport, drops: this.dropCount };
  }

  // ---- StreamConnectionHost / UdpListenerHost ----

  drop(reason: string, where: FlowInfo | DropSource): void {
    this.dropCount++;
    this.delegate.onDrop?.(reason, where);
  }

  streamConnected(conn: StreamConnection): void {
    this.delegate.onFlowOpened?.(conn.flow);
  }

  streamClosed(conn: StreamConnection, reason: FlowCloseReason): void {
    this.connections.delete(conn.flow.id);
    if (this.byRemote.get(conn.remoteKey) === conn) this.byRemote.delete(conn.remoteKey);
    if (conn.inbound) this.limiter.release(conn.flow.remoteAddress);
    this.delegate.onFlowClosed?.(conn.flow, reason);
    if (this.connections.size === 0 && this.allClosed !== undefined) {
      const done = this.allClosed;
      this.allClosed = undefined;
      done();
    }
  }

  // ---- internals ----

  private readonly accept = (socket: Socket, listener: StreamListener): void => {
    const rawAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (rawAddress === undefined || remotePort === undefined || this.state === "stopped") {
      socket.destroy(); // already reset by the peer, or we are shutting down
      return;
    }
    const remoteAddress = normaliseAddress(rawAddress);
    if (this.limiter.tryAcquire(remoteAddress) !== "ok") {
      // DESIGN §6 limits: refuse at once, before any byte is read.
      socket.destroy();
      this.drop("connection-limit", { transport: listener.transport, remoteAddress, remotePort });
      return;
    }
    const conn = new StreamConnection(
      socket,
      this.nextConnectionId++,
      listener.transport,
      true,
      this,
      this.limits,
      { address: remoteAddress, port: remotePort },
      listener.host,
    );
    this.register(conn);
    this.delegate.onFlowOpened?.(conn.flow);
  };

  private readonly acceptError = (err: NodeJS.ErrnoException): void => {
    this.drop("accept-error:" + (err.code ?? "unknown"), { transport: "tcp", remoteAddress: "", remotePort: 0 });
  };

  private register(conn: StreamConnection): void {
    this.connections.set(conn.flow.id, conn);
    // The newest connection to a peer wins the index: it is the one the peer itself last chose.
    this.byRemote.set(conn.remoteKey, conn);
  }

  private writeTo(conn: StreamConnection, bytes: Buffer): SendResult {
    const r = conn.write(bytes);
    if (r === "ok") return { ok: true, flow: conn.flow };
    return r === "backpressure" ? SEND_BACKPRESSURE : SEND_FLOW_GONE;
  }

  private connectAndSend(bytes: Buffer, transport: "tcp", family: 4 | 6, address: string, port: number): SendResult {
    const listener = pickListener(this.stream, transport, family, undefined, undefined);
    if (listener === undefined) return SEND_NO_LISTENER;
    const localAddress = isWildcard(listener.host) ? "" : listener.host;
    const socket = connect({
      host: address,
      port,
      family,
      noDelay: true,
      allowHalfOpen: false,
      ...(localAddress !== "" ? { localAddress } : {}),
    });
    const conn = new StreamConnection(
      socket,
      this.nextConnectionId++,
      transport,
      false,
      this,
      this.limits,
      { address, port },
      localAddress,
    );
    this.register(conn);
    return this.writeTo(conn, bytes);
  }

  private sendUdp(
    bytes: Buffer,
    family: 4 | 6,
    address: string,
    port: number,
    localAddress: string | undefined,
    localPort: number | undefined,
  ): SendResult {
    let listener = pickListener(this.udp, "udp", family, localAddress, localPort);
    let to = address;
    if (listener === undefined && family === 4) {
      // An IPv4 peer can still be reached through a dual-stack "::" socket as ::ffff:a.b.c.d.
      listener = this.udp.find((l) => l.family === 6 && l.host === "::");
      to = "::ffff:" + address;
    }
    if (listener === undefined) return SEND_NO_LISTENER;
    listener.send(bytes, to, port);
    return {
      ok: true,
      flow: { id: 0, transport: "udp", localAddress: listener.host, localPort: listener.port, remoteAddress: address, remotePort: port },
    };
  }
}

/** The listener bound exactly to local address:port if given and present, else the first of the family. */
function pickListener<L extends { readonly transport: TransportKind; readonly family: 4 | 6; readonly host: string; readonly port: number }>(
  list: readonly L[],
  transport: TransportKind,
  family: 4 | 6,
  localAddress: string | undefined,
  localPort: number | undefined,
): L | undefined {
  let first: L | undefined;
  for (const l of list) {
    if (l.transport !== transport || l.family !== family) continue;
    if (localAddress === undefined) return l;
    if (l.host === localAddress && (localPort === undefined || l.port === localPort)) return l;
    first ??= l;
  }
  return first;
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}
