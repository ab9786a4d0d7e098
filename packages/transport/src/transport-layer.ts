import { connect, isIP } from "node:net";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { WebSocket } from "ws";
import { addressFamily, isWildcard, normaliseAddress, stripBrackets } from "./address.js";
import { remoteKey } from "./connection.js";
import type { Connection, ConnectionHost } from "./connection.js";
import { ConnectionLimiter } from "./connection-limits.js";
import { TransportError } from "./errors.js";
import { StreamConnection } from "./stream-connection.js";
import type { ListenerHooks, StreamListener } from "./stream-listener.js";
import { TcpListener } from "./tcp-listener.js";
import { TlsCredentials } from "./tls-credentials.js";
import { TlsListener } from "./tls-listener.js";
import { WsConnection } from "./ws-connection.js";
import { WsListener } from "./ws-listener.js";
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
  TlsSettings,
  TransportLimits,
} from "./types.js";

export interface TransportLayerOptions {
  readonly listen: readonly ListenSpec[];
  readonly delegate: TransportDelegate;
  readonly limits?: Partial<TransportLimits>;
  /** Certificates: required when a tls or wss listener is configured; enables outbound TLS. */
  readonly tls?: TlsSettings;
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
 * - TLS (RFC 3261 §26.2.1): outbound connections need a tls listener of the family, like TCP; the
 *   server's certificate is verified against the CA bundle (or Node's roots) and must name the
 *   target's serverName (a SIPS URI host, RFC 5922 §7.2) or else its IP address. Our certificate is
 *   offered as the client certificate when the server asks (mutual TLS between proxies).
 * - WS / WSS (RFC 7118): accepted only; a send to a WebSocket peer uses its existing connection.
 * - Connection limits count raw inbound TCP connections of every stream transport together,
 *   admitted before a TLS handshake or HTTP upgrade starts.
 */
export class TransportLayer implements ConnectionHost, UdpListenerHost, ListenerHooks {
  readonly delegate: TransportDelegate;
  private readonly specs: readonly ListenSpec[];
  private readonly limits: TransportLimits;
  private readonly limiter: ConnectionLimiter;
  private udp: UdpListener[] = [];
  private stream: StreamListener[] = [];
  private bound: BoundListener[] = [];
  private readonly connections = new Map<number, Connection>();
  private readonly byRemote = new Map<string, Connection>();
  private readonly tlsSettings: TlsSettings | undefined;
  private creds: TlsCredentials | undefined;
  private nextConnectionId = 1;
  private dropCount = 0;
  private state: "new" | "starting" | "running" | "stopped" = "new";
  private allClosed: (() => void) | undefined;

  constructor(opts: TransportLayerOptions) {
    this.specs = opts.listen;
    this.delegate = opts.delegate;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.limiter = new ConnectionLimiter(this.limits.maxConnections, this.limits.maxConnectionsPerIp);
    this.tlsSettings = opts.tls;
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
      const needsTls = this.specs.find((s) => s.transport === "tls" || s.transport === "wss");
      if (this.tlsSettings !== undefined) {
        const name = needsTls !== undefined ? needsTls.transport + ":" + needsTls.host + ":" + needsTls.port : "tls";
        try {
          this.creds = new TlsCredentials(this.tlsSettings, (o) => this.delegate.onTlsReload?.(o));
        } catch (err) {
          throw new TransportError("bad-tls-credentials", name, `listen ${name}: ${(err as Error).message}`, { cause: err });
        }
      } else if (needsTls !== undefined) {
        const name = needsTls.transport + ":" + needsTls.host + ":" + needsTls.port;
        throw new TransportError("bad-tls-credentials", name, `listen ${name}: a certificate and key are required for ${needsTls.transport}`);
      }
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
            stream.push(new TcpListener(host, spec.port, family, this));
            break;
          case "tls":
            stream.push(new TlsListener(host, spec.port, family, this, this.creds!, this.limits));
            break;
          case "ws":
          case "wss":
            stream.push(new WsListener(spec.transport, host, spec.port, family, this, this.limits, this.creds));
            break;
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
      await this.creds?.watch();
      this.state = "running";
      return [...this.bound];
    } catch (err) {
      this.creds?.stop();
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
   * usable flow). UDP: from a listener of the target's family. TCP and TLS: over an open
   * connection to that ip:port if one exists, else a new connection (writes queue while it
   * connects and handshakes; a failed connect or handshake is reported through onFlowClosed with
   * reason "error"). WS / WSS: over an open connection only.
   */
  send(bytes: Buffer, target: SendTarget): SendResult {
    if (this.state !== "running") return SEND_STOPPED;
    const address = normaliseAddress(stripBrackets(target.address));
    const family = addressFamily(address);
    if (family === 0 || !validPort(target.port)) return SEND_BAD_ADDRESS;
    switch (target.transport) {
      case "udp":
        return this.sendUdp(bytes, family, address, target.port, undefined, undefined);
      case "tcp":
      case "tls": {
        const existing = this.byRemote.get(remoteKey(target.transport, address, target.port));
        if (existing !== undefined && existing.writable) return this.writeTo(existing, bytes);
        return this.connectAndSend(bytes, target.transport, family, address, target.port, target.serverName);
      }
      case "ws":
      case "wss": {
        // RFC 7118 §5: the server cannot open a WebSocket to a client; only the client's own connection reaches it.
        const existing = this.byRemote.get(remoteKey(target.transport, address, target.port));
        if (existing !== undefined && existing.writable) return this.writeTo(existing, bytes);
        return SEND_UNSUPPORTED;
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
    this.creds?.stop();
    for (const l of this.stream) l.stopAccepting();
    const connectionsClosed =
      this.connections.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.allClosed = resolve));
    for (const c of [...this.connections.values()]) c.close("local-close", false);
    await Promise.all([connectionsClosed, ...this.stream.map((l) => l.closed()), ...this.udp.map((l) => l.close())]);
  }

  stats(): TransportStats {
    const flowsByTransport: Record<string, number> = { udp: 0, tcp: 0 };
    for (const l of this.stream) flowsByTransport[l.transport] = 0;
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

  streamConnected(conn: Connection): void {
    this.delegate.onFlowOpened?.(conn.flow);
  }

  streamClosed(conn: Connection, reason: FlowCloseReason): void {
    this.connections.delete(conn.flow.id);
    if (this.byRemote.get(conn.remoteKey) === conn) this.byRemote.delete(conn.remoteKey);
    this.delegate.onFlowClosed?.(conn.flow, reason);
    if (this.connections.size === 0 && this.allClosed !== undefined) {
      const done = this.allClosed;
      this.allClosed = undefined;
      done();
    }
  }

  // ---- ListenerHooks ----

  admit(socket: Socket, transport: TransportKind): boolean {
    const rawAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (rawAddress === undefined || remotePort === undefined || this.state === "stopped") {
      socket.destroy(); // already reset by the peer, or we are shutting down
      return false;
    }
    const remoteAddress = normaliseAddress(rawAddress);
    if (this.limiter.tryAcquire(remoteAddress) !== "ok") {
      // DESIGN §6 limits: refuse at once, before any byte is read.
      socket.destroy();
      this.drop("connection-limit", { transport, remoteAddress, remotePort });
      return false;
    }
    // The slot is held by the raw socket, whatever becomes of it (handshake failure, upgrade
    // refused, a flow that later closes): released exactly once, when it closes.
    socket.once("close", () => this.limiter.release(remoteAddress));
    return true;
  }

  accept(socket: Socket, listener: StreamListener): void {
    const rawAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (rawAddress === undefined || remotePort === undefined || this.state === "stopped") {
      socket.destroy();
      return;
    }
    const remoteAddress = normaliseAddress(rawAddress);
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
  }

  acceptWebSocket(ws: WebSocket, socket: Socket, listener: StreamListener): void {
    const rawAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (rawAddress === undefined || remotePort === undefined || this.state === "stopped") {
      ws.terminate();
      return;
    }
    const conn = new WsConnection(
      ws,
      socket,
      this.nextConnectionId++,
      listener.transport as "ws" | "wss",
      this,
      this.limits,
      { address: normaliseAddress(rawAddress), port: remotePort },
      normaliseAddress(socket.localAddress ?? listener.host),
      socket.localPort ?? listener.port,
    );
    this.register(conn);
    this.delegate.onFlowOpened?.(conn.flow);
  }

  refused(reason: string, where: DropSource): void {
    this.drop(reason, where);
  }

  serverError(err: NodeJS.ErrnoException, transport: TransportKind): void {
    this.drop("accept-error:" + (err.code ?? "unknown"), { transport, remoteAddress: "", remotePort: 0 });
  }

  // ---- internals ----

  private register(conn: Connection): void {
    this.connections.set(conn.flow.id, conn);
    // The newest connection to a peer wins the index: it is the one the peer itself last chose.
    this.byRemote.set(conn.remoteKey, conn);
  }

  private writeTo(conn: Connection, bytes: Buffer): SendResult {
    const r = conn.write(bytes);
    if (r === "ok") return { ok: true, flow: conn.flow };
    return r === "backpressure" ? SEND_BACKPRESSURE : SEND_FLOW_GONE;
  }

  private connectAndSend(bytes: Buffer, transport: "tcp" | "tls", family: 4 | 6, address: string, port: number, serverName: string | undefined): SendResult {
    const listener = pickListener(this.stream, transport, family, undefined, undefined);
    if (listener === undefined || (transport === "tls" && this.creds === undefined)) return SEND_NO_LISTENER;
    const localAddress = isWildcard(listener.host) ? "" : listener.host;
    const common = {
      host: address,
      port,
      family,
      noDelay: true,
      allowHalfOpen: false,
      ...(localAddress !== "" ? { localAddress } : {}),
    };
    let socket: Socket;
    if (transport === "tls") {
      const creds = this.creds!;
      // RFC 6066 §3: SNI carries a host name, never an IP literal.
      const name = serverName !== undefined && isIP(serverName) === 0 ? serverName : undefined;
      socket = tlsConnect({
        ...common,
        secureContext: creds.secureContext,
        rejectUnauthorized: creds.settings.verifyServer !== false,
        ...(name !== undefined ? { servername: name } : {}),
      });
    } else {
      socket = connect(common);
    }
    const conn = new StreamConnection(
      socket,
      this.nextConnectionId++,
      transport,
      false,
      this,
      this.limits,
      { address, port },
      localAddress,
      transport === "tls" ? "secureConnect" : "connect",
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
