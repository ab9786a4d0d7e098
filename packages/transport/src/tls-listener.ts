import type { Socket } from "node:net";
import { createServer } from "node:tls";
import type { TLSSocket } from "node:tls";
import { normaliseAddress } from "./address.js";
import { ServerListener } from "./stream-listener.js";
import type { ListenerHooks } from "./stream-listener.js";
import { contextOptions } from "./tls-credentials.js";
import type { TlsCredentials } from "./tls-credentials.js";
import type { TransportLimits } from "./types.js";

/**
 * SIP over TLS (RFC 3261 §26.2.1, RFC 5630 for SIPS): a tls.Server. Connection limits are applied
 * to the raw TCP connection before the handshake (a refused peer costs no crypto); the handshake
 * must finish within the header-read timeout (a stalled handshake is the TLS slowloris); the
 * handshaken TLSSocket then becomes a StreamConnection exactly like TCP.
 * Certificates come from TlsCredentials and are swapped in place on reload (setSecureContext):
 * new handshakes use the new certificate, established connections keep theirs.
 */
export class TlsListener extends ServerListener {
  readonly transport = "tls" as const;

  constructor(host: string, port: number, family: 4 | 6, hooks: ListenerHooks, creds: TlsCredentials, limits: TransportLimits) {
    const requireClientCert = creds.settings.requireClientCert === true;
    super(
      createServer({
        ...contextOptions(creds.current),
        allowHalfOpen: false,
        noDelay: true,
        handshakeTimeout: limits.headerReadTimeoutMs,
        requestCert: requireClientCert,
        rejectUnauthorized: requireClientCert,
      }),
      host,
      port,
      family,
      hooks,
    );
    creds.subscribe((m) => (this.server as ReturnType<typeof createServer>).setSecureContext(contextOptions(m)));
    // tls.Server wraps the raw socket in its own 'connection' listener (added first); ours runs
    // after it and may still refuse the connection before any handshake byte is read.
    this.server.on("connection", this.onConnection);
    this.server.on("secureConnection", this.onSecureConnection);
    this.server.on("tlsClientError", this.onTlsClientError);
  }

  private readonly onConnection = (socket: Socket): void => {
    this.hooks.admit(socket, "tls");
  };

  private readonly onSecureConnection = (socket: TLSSocket): void => {
    this.hooks.accept(socket, this);
  };

  /**
   * Handshake failed or timed out (ERR_TLS_HANDSHAKE_TIMEOUT). Node only reports it; a timed-out
   * socket would stay open (and keep its connection slot), so it is destroyed here.
   */
  private readonly onTlsClientError = (err: NodeJS.ErrnoException, socket: TLSSocket): void => {
    const remoteAddress = socket.remoteAddress;
    const remotePort = socket.remotePort ?? 0;
    socket.destroy();
    // A reset of a socket we refused (or the peer giving up) is not a handshake failure worth a drop.
    if (err.code === "ECONNRESET" || err.code === "EPIPE" || remoteAddress === undefined) return;
    const reason = err.code === "ERR_TLS_HANDSHAKE_TIMEOUT" ? "tls-handshake-timeout" : "tls-handshake";
    this.hooks.refused(reason, { transport: "tls", remoteAddress: normaliseAddress(remoteAddress), remotePort });
  };
}
