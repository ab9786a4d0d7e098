import { createServer } from "node:net";
import type { Socket } from "node:net";
import { ServerListener } from "./stream-listener.js";
import type { ListenerHooks } from "./stream-listener.js";

/** SIP over TCP (RFC 3261 §18): a net.Server whose sockets become StreamConnections. */
export class TcpListener extends ServerListener {
  readonly transport = "tcp" as const;

  constructor(host: string, port: number, family: 4 | 6, hooks: ListenerHooks) {
    // allowHalfOpen false: a peer's FIN ends our side too (SIP has no use for half-open streams).
    super(createServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: false }), host, port, family, hooks);
    this.server.on("connection", this.onConnection);
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.hooks.admit(socket, "tcp")) this.hooks.accept(socket, this);
  };
}
