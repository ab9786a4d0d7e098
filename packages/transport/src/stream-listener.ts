import type { Server, Socket } from "node:net";
import type { WebSocket } from "ws";
import { TransportError } from "./errors.js";
import type { BoundListener, DropSource, TransportKind } from "./types.js";

/**
 * A listener for a connection-oriented transport: TCP (net.Server), TLS (tls.Server, handing over
 * the socket on 'secureConnection'), WS / WSS (http.Server / https.Server plus an RFC 7118
 * upgrade; one SIP message per WebSocket message, so they hand over WebSockets, not sockets).
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

/** What a listener needs from the layer. */
export interface ListenerHooks {
  /**
   * Admission (connection limits) of a raw inbound TCP connection, before any byte is read and so
   * before a TLS handshake or HTTP upgrade is spent on it. False: the layer destroyed the socket
   * and reported the drop. True: the connection counts until the socket closes.
   */
  admit(socket: Socket, transport: TransportKind): boolean;
  /** An admitted socket ready for SIP framing (TCP: at once; TLS: after the handshake). */
  accept(socket: Socket, listener: StreamListener): void;
  /** An admitted connection completed the RFC 7118 WebSocket handshake with subprotocol "sip". */
  acceptWebSocket(ws: WebSocket, socket: Socket, listener: StreamListener): void;
  /** Something was refused before a flow existed (handshake failure, timeout, bad upgrade). */
  refused(reason: string, where: DropSource): void;
  /** The server reported an error after listening (EMFILE on accept, ...): transient, counted. */
  serverError(err: NodeJS.ErrnoException, transport: TransportKind): void;
}

/** Shared bind / stop logic of listeners built on a net.Server (or a subclass: tls, http, https). */
export abstract class ServerListener implements StreamListener {
  abstract readonly transport: TransportKind;
  readonly family: 4 | 6;
  readonly host: string;
  port: number;
  private listening = false;
  private closePromise: Promise<void> | undefined;

  protected constructor(
    protected readonly server: Server,
    host: string,
    port: number,
    family: 4 | 6,
    protected readonly hooks: ListenerHooks,
  ) {
    this.host = host;
    this.port = port;
    this.family = family;
  }

  listen(): Promise<BoundListener> {
    const listen = this.transport + ":" + this.host + ":" + this.port;
    return new Promise<BoundListener>((resolve, reject) => {
      const onListenError = (err: NodeJS.ErrnoException): void => {
        reject(
          err.code === "EADDRINUSE"
            ? new TransportError("address-in-use", listen, `cannot listen on ${listen}: address already in use`, { cause: err })
            : new TransportError("bind-failed", listen, `cannot listen on ${listen}: ${err.message}`, { cause: err }),
        );
      };
      this.server.once("error", onListenError);
      this.server.listen({ host: this.host, port: this.port, exclusive: true, backlog: 511 }, () => {
        this.server.off("error", onListenError);
        // After listening, server errors (EMFILE/ENFILE on accept) are transient: Node keeps
        // accepting; they are reported (counted as drops) rather than fatal.
        this.server.on("error", (err: NodeJS.ErrnoException) => this.hooks.serverError(err, this.transport));
        this.listening = true;
        const addr = this.server.address();
        if (addr !== null && typeof addr === "object") this.port = addr.port;
        resolve({ transport: this.transport, host: this.host, port: this.port });
      });
    });
  }

  stopAccepting(): void {
    if (this.closePromise !== undefined) return;
    if (!this.listening) {
      this.closePromise = Promise.resolve();
      return;
    }
    // server.close() stops listening now; its callback runs when the last accepted socket closes.
    this.closePromise = new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  closed(): Promise<void> {
    this.stopAccepting();
    return this.closePromise ?? Promise.resolve();
  }

  /** For tests and the admin API: sockets this server still holds (admitted or not). */
  connectionCount(): Promise<number> {
    return new Promise<number>((resolve, reject) =>
      this.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}
