import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import { normaliseAddress } from "./address.js";
import { ServerListener } from "./stream-listener.js";
import type { ListenerHooks } from "./stream-listener.js";
import { contextOptions } from "./tls-credentials.js";
import type { TlsCredentials } from "./tls-credentials.js";
import type { TransportLimits } from "./types.js";

/** RFC 7118 §4.1 / IANA WebSocket subprotocol registry: the SIP subprotocol token. */
export const SIP_WS_PROTOCOL = "sip";

/**
 * SIP over WebSocket (RFC 7118): an http.Server (ws) or https.Server (wss) that accepts only the
 * WebSocket upgrade with subprotocol "sip".
 *
 * - Connection limits apply to the raw TCP connection, before TLS and HTTP are spent on it.
 * - The TLS handshake plus the HTTP upgrade must complete within the header-read timeout from
 *   accept (slowloris on the handshake); plain HTTP requests get 426 Upgrade Required.
 * - With `wsAllowedOrigins` set, an upgrade whose Origin is not listed is refused with 403.
 * - An upgrade that does not offer "sip" in Sec-WebSocket-Protocol is refused with 400: RFC 7118
 *   §4.1 requires the client to offer it, and a server answering without a subprotocol would make a
 *   conforming client fail the connection anyway (RFC 6455 §4.1).
 * - Messages over maxMessageBytes close the connection (1009, ws's maxPayload); no compression
 *   (permessage-deflate costs memory per connection and is a decompression-bomb surface).
 */
export class WsListener extends ServerListener {
  readonly transport: "ws" | "wss";
  private readonly wss: WebSocketServer;
  /** Upgrade deadline per raw connection, keyed by remote address|port (same for raw and TLS socket). */
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    transport: "ws" | "wss",
    host: string,
    port: number,
    family: 4 | 6,
    hooks: ListenerHooks,
    private readonly limits: TransportLimits,
    creds: TlsCredentials | undefined,
  ) {
    const httpOptions = { requestTimeout: limits.headerReadTimeoutMs, headersTimeout: limits.headerReadTimeoutMs, keepAliveTimeout: 1_000, maxHeaderSize: 16_384, noDelay: true };
    let server: HttpServer;
    if (transport === "wss") {
      if (creds === undefined) throw new Error("wss listener without TLS credentials");
      const s = createHttpsServer({ ...httpOptions, ...contextOptions(creds.current), handshakeTimeout: limits.headerReadTimeoutMs });
      creds.subscribe((m) => s.setSecureContext(contextOptions(m)));
      s.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        const remoteAddress = socket.remoteAddress;
        const remotePort = socket.remotePort ?? 0;
        socket.destroy(); // Node reports a handshake timeout but leaves the socket open
        if (err.code === "ECONNRESET" || err.code === "EPIPE" || remoteAddress === undefined) return;
        this.hooks.refused(err.code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "tls-handshake-timeout" : "tls-handshake", {
          transport: "wss",
          remoteAddress: normaliseAddress(remoteAddress),
          remotePort,
        });
      });
      server = s;
    } else {
      server = createHttpServer(httpOptions);
    }
    super(server, host, port, family, hooks);
    this.transport = transport;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols: Set<string>) => (protocols.has(SIP_WS_PROTOCOL) ? SIP_WS_PROTOCOL : false),
    });
    server.on("connection", this.onConnection);
    server.on("request", this.onRequest);
    server.on("upgrade", this.onUpgrade);
    server.on("clientError", this.onClientError);
  }

  private readonly onConnection = (socket: Socket): void => {
    if (!this.hooks.admit(socket, this.transport)) return;
    const key = socketKey(socket);
    const timer = setTimeout(() => {
      this.pending.delete(key);
      this.hooks.refused("header-timeout", { transport: this.transport, remoteAddress: normaliseAddress(socket.remoteAddress ?? ""), remotePort: socket.remotePort ?? 0 });
      socket.destroy();
    }, this.limits.headerReadTimeoutMs);
    timer.unref();
    this.pending.set(key, timer);
    socket.once("close", () => {
      clearTimeout(timer);
      if (this.pending.get(key) === timer) this.pending.delete(key);
    });
  };

  /** RFC 6455 §4.2.2: a plain HTTP request to a WebSocket-only endpoint is answered 426. */
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.hooks.refused("ws-not-upgrade", this.sourceOf(req.socket));
    res.writeHead(426, { Upgrade: "websocket", Connection: "close", "Content-Type": "text/plain", "Sec-WebSocket-Protocol": SIP_WS_PROTOCOL });
    res.end("SIP over WebSocket (RFC 7118): upgrade with Sec-WebSocket-Protocol: sip\n");
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const offered = req.headers["sec-websocket-protocol"];
    const protocols = typeof offered === "string" ? offered.split(",").map((p) => p.trim()) : [];
    if (!protocols.includes(SIP_WS_PROTOCOL)) {
      this.hooks.refused("ws-no-sip-protocol", this.sourceOf(req.socket));
      const body = "Sec-WebSocket-Protocol must offer sip (RFC 7118 §4.1)\n";
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    // RFC 6455 §10.2: a browser names the page's origin; a page we do not serve must not open a
    // SIP session with the user's cookies/credentials (cross-site WebSocket hijacking).
    const origin = req.headers.origin;
    const allowed = this.limits.wsAllowedOrigins;
    if (origin !== undefined && allowed.length > 0 && !allowed.includes(origin.toLowerCase())) {
      this.hooks.refused("ws-origin", this.sourceOf(req.socket));
      const body = "Origin not allowed\n";
      socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    // ws answers 400 itself for a malformed upgrade (bad version, key, ...) and closes the socket.
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const s = req.socket;
      const key = socketKey(s);
      const timer = this.pending.get(key);
      if (timer !== undefined) {
        clearTimeout(timer);
        this.pending.delete(key);
      }
      this.hooks.acceptWebSocket(ws, s, this);
    });
  };

  /** Malformed HTTP (or headersTimeout): answer 400 when the socket can still take it, then close. */
  private readonly onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code !== "ECONNRESET" && err.code !== "EPIPE") this.hooks.refused("ws-bad-http", this.sourceOf(socket as Socket));
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  };

  private sourceOf(socket: Socket): { transport: "ws" | "wss"; remoteAddress: string; remotePort: number } {
    return { transport: this.transport, remoteAddress: normaliseAddress(socket.remoteAddress ?? ""), remotePort: socket.remotePort ?? 0 };
  }
}

function socketKey(socket: Socket): string {
  return (socket.remoteAddress ?? "") + "|" + (socket.remotePort ?? 0);
}
