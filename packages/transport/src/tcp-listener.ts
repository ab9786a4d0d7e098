import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { TransportError } from "./errors.js";
import type { AcceptHandler, StreamListener } from "./stream-listener.js";
import type { BoundListener } from "./types.js";

/** SIP over TCP (RFC 3261 §18): a net.Server whose sockets become StreamConnections. */
export class TcpListener implements StreamListener {
  readonly transport = "tcp" as const;
  readonly family: 4 | 6;
  readonly host: string;
  port: number;
  private readonly server: Server;
  private listening = false;
  private closePromise: Promise<void> | undefined;

  constructor(
    host: string,
    port: number,
    family: 4 | 6,
    private readonly accept: AcceptHandler,
    private readonly acceptError: (err: NodeJS.ErrnoException) => void,
  ) {
    this.host = host;
    this.port = port;
    this.family = family;
    // allowHalfOpen false: a peer's FIN ends our side too (SIP has no use for half-open streams).
    this.server = createServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: false });
    this.server.on("connection", this.onConnection);
  }

  listen(): Promise<BoundListener> {
    const listen = "tcp:" + this.host + ":" + this.port;
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
        this.server.on("error", this.acceptError);
        this.listening = true;
        const addr = this.server.address();
        if (addr !== null && typeof addr === "object") this.port = addr.port;
        resolve({ transport: "tcp", host: this.host, port: this.port });
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

  /** For tests and the admin API: sockets this server still holds. */
  connectionCount(): Promise<number> {
    return new Promise<number>((resolve, reject) =>
      this.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
  }

  private readonly onConnection = (socket: Socket): void => {
    this.accept(socket, this);
  };
}
