import type { Socket } from "node:net";
import type { BoundListener, TransportKind } from "./types.js";

/**
 * A listener for a connection-oriented transport. TCP implements it with net.Server; TLS will with
 * tls.Server (handing over the socket on 'secureConnection'); both feed StreamConnection.
 * WS/WSS (RFC 7118: one SIP message per WebSocket message, no stream framing) will hand over
 * messages rather than sockets and get their own connection class.
 */
export interface StreamListener {
  readonly transport: TransportKind;
  readonly family: 4 | 6;
  readonly host: string;
  readonly port: number;
  listen(): Promise<BoundListener>;
  /** Stop accepting new connections; existing ones are untouched. */
  stopAccepting(): void;
  /** Resolves once stopAccepting() was called and every connection the listener accepted has closed. */
  closed(): Promise<void>;
}

/** Called by a stream listener for each accepted (and, for TLS, handshaken) socket. */
export type AcceptHandler = (socket: Socket, listener: StreamListener) => void;
