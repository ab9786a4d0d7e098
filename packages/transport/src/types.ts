import type { SipParseError } from "@edgepath/sip";

/** Transport names as they appear in a Via sent-protocol (lower-case here; RFC 3261 §20.42, RFC 7118 §5). */
export type TransportKind = "udp" | "tcp" | "tls" | "ws" | "wss";

/** One socket to open: `port` 0 asks the kernel for any free port. `host` must be an IP literal. */
export interface ListenSpec {
  readonly transport: TransportKind;
  readonly host: string;
  readonly port: number;
}

/** A listener after bind: `port` is the one actually bound. */
export interface BoundListener {
  readonly transport: TransportKind;
  readonly host: string;
  readonly port: number;
}

/**
 * A flow in the sense of RFC 5626 §3.1: for connection-oriented transports one connection
 * (`id` unique per process, never reused); for UDP the 5-tuple, with `id` 0.
 * Addresses are as Node reports them, with IPv4-mapped IPv6 ("::ffff:a.b.c.d") reduced to IPv4.
 * For an outbound connection that is still connecting, `localAddress`/`localPort` are the bind
 * address chosen (or "") and 0 until the connection is established.
 */
export interface FlowInfo {
  readonly id: number;
  readonly transport: TransportKind;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** Where a packet or connection came from when no flow exists for it (e.g. a refused connection). */
export interface DropSource {
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export type FlowCloseReason = "remote-close" | "error" | "idle-timeout" | "header-timeout" | "local-close" | "limit";

/**
 * Callbacks from the transport layer. They are called synchronously from socket events and must
 * not throw: an exception escapes into the socket's event emitter (an uncaught exception).
 */
export interface TransportDelegate {
  /** One SIP message: a whole datagram, or one framed message of a stream (RFC 3261 §18.3). */
  onMessage(bytes: Buffer, flow: FlowInfo): void;
  /**
   * A framing error on a stream. The delegate may answer on the flow (e.g. a 400) from inside this
   * call; the layer closes the connection on the next tick with reason "error".
   */
  onStreamError?(error: SipParseError, flow: FlowInfo): void;
  /** Every flow that was reported open, and every outbound flow returned by send(), is reported closed once. */
  onFlowClosed?(flow: FlowInfo, reason: FlowCloseReason): void;
  onFlowOpened?(flow: FlowInfo): void;
  /** A CRLF keepalive (RFC 5626 §4.4.1) or a STUN binding request (§4.4.2): the flow is alive. */
  onKeepalive?(flow: FlowInfo): void;
  /** Something was dropped; `reason` is a stable token ("too-large", "connection-limit", "backpressure", ...). */
  onDrop?(reason: string, flow: FlowInfo | DropSource): void;
  /**
   * The TLS certificate files changed on disk and were reloaded (`ok`), or could not be loaded
   * (the previous certificate stays in use). Not called for the first load at start().
   */
  onTlsReload?(outcome: TlsReloadOutcome): void;
}

export type TlsReloadOutcome =
  | { readonly ok: true; readonly certFile: string }
  | { readonly ok: false; readonly certFile: string; readonly error: Error };

/**
 * Certificates for tls and wss listeners and for outbound TLS (RFC 3261 §26.2.1, RFC 5922).
 * Files are PEM; they are re-read when they change on disk (checked every `reloadIntervalMs`).
 */
export interface TlsSettings {
  /** Certificate chain (leaf first) presented by our listeners, and to servers that ask for a client certificate. */
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle that verifies peers' certificates; absent = Node's bundled roots. */
  readonly caFile?: string;
  /** Verify the certificates of servers we connect to (outbound TLS). Default true. */
  readonly verifyServer?: boolean;
  /** Ask inbound TLS peers for a certificate and refuse those without a valid one (mutual TLS). Default false. */
  readonly requireClientCert?: boolean;
  /** How often the files are checked for change, ms; 0 = never. Default 10000. */
  readonly reloadIntervalMs?: number;
}

export interface TransportLimits {
  /** Largest SIP message accepted (datagram or framed stream message). Default 65535. */
  readonly maxMessageBytes: number;
  /** Inbound stream connections across all listeners. Default 10000. */
  readonly maxConnections: number;
  /** Inbound stream connections from one source IP. Default 256 (offices behind one NAT). */
  readonly maxConnectionsPerIp: number;
  /** Close a stream connection with no traffic in either direction for this long. Default 3600000. */
  readonly idleTimeoutMs: number;
  /** A message whose first byte arrived must be complete within this time (slowloris). Default 10000. */
  readonly headerReadTimeoutMs: number;
  /** An outbound connection must be established within this time. Default 10000. */
  readonly connectTimeoutMs: number;
  /** Refuse to queue more on a connection whose unsent bytes exceed this. Default 1 MiB. */
  readonly maxWriteBufferBytes: number;
  /** SO_RCVBUF asked for on UDP sockets (the kernel may clamp it, e.g. to net.core.rmem_max). Default 4 MiB. */
  readonly udpRecvBufferBytes: number;
  /**
   * WS/WSS upgrades carrying an Origin header (browsers) are accepted only from these serialised
   * origins (RFC 6454 §6.2, RFC 6455 §10.2); empty = any. No Origin = not a browser: accepted.
   */
  readonly wsAllowedOrigins: readonly string[];
}

export const DEFAULT_LIMITS: TransportLimits = Object.freeze({
  maxMessageBytes: 65535,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
  idleTimeoutMs: 3_600_000,
  headerReadTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxWriteBufferBytes: 1024 * 1024,
  udpRecvBufferBytes: 4 * 1024 * 1024,
  wsAllowedOrigins: Object.freeze([]),
});

export type SendResult = { readonly ok: true; readonly flow: FlowInfo } | { readonly ok: false; readonly reason: SendFailure };

/**
 * Why a send did not happen: no listener for that transport/family; the flow's connection is gone;
 * the connection's write buffer is full; the address is not an IP literal; the layer is stopped;
 * the transport cannot open connections (ws/wss: a WebSocket server never connects to its clients,
 * RFC 7118 §5, so only existing connections are used).
 */
export type SendFailure = "no-listener" | "flow-gone" | "backpressure" | "bad-address" | "stopped" | "unsupported-transport";

export interface SendTarget {
  readonly transport: TransportKind;
  readonly address: string;
  readonly port: number;
  /**
   * TLS only: the host name the target was resolved from (a SIPS URI's host, RFC 5922 §4.1).
   * Sent as SNI and matched against the server's certificate; absent = the certificate must name
   * the IP address.
   */
  readonly serverName?: string;
}

export interface FlowRef {
  readonly id: number;
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress?: string;
  readonly localPort?: number;
}

/** Internal: the mutable object behind a FlowInfo (outbound connections learn their local port late). */
export interface MutableFlow {
  readonly id: number;
  readonly transport: TransportKind;
  localAddress: string;
  localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}
