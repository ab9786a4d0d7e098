import type { FlowCloseReason, FlowInfo, MutableFlow, TransportDelegate } from "./types.js";

/**
 * One connection flow (RFC 5626 §3.1) as the layer sees it, whatever carries it: a framed byte
 * stream (TCP, TLS: StreamConnection) or WebSocket messages (WS, WSS: WsConnection).
 */
export interface Connection {
  readonly flow: MutableFlow;
  /** Key for the layer's remote index ("tcp 192.0.2.1 5060"). */
  readonly remoteKey: string;
  /** Accepted from a listener rather than opened by send(). */
  readonly inbound: boolean;
  /** Open (or connecting) and not being closed. */
  readonly writable: boolean;
  write(bytes: Buffer): "ok" | "flow-gone" | "backpressure";
  /** Close; `onFlowClosed` follows once the socket has closed. */
  close(reason: FlowCloseReason, graceful: boolean): void;
}

/** What a connection needs from the layer that owns it. */
export interface ConnectionHost {
  readonly delegate: TransportDelegate;
  /** Called once, when the connection's socket has closed. */
  streamClosed(conn: Connection, reason: FlowCloseReason): void;
  /** Called once when an outbound connection is established. */
  streamConnected(conn: Connection): void;
  drop(reason: string, flow: FlowInfo): void;
}

export function remoteKey(transport: string, address: string, port: number): string {
  return transport + " " + address + " " + port;
}
