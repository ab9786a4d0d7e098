import { isUtf8 } from "node:buffer";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { RawData, WebSocket } from "ws";
import { ownedBytes } from "@edgepath/sip";
import { remoteKey } from "./connection.js";
import type { Connection, ConnectionHost } from "./connection.js";
import type { FlowCloseReason, MutableFlow, TransportLimits } from "./types.js";

const PONG = Buffer.from("\r\n", "latin1");
/** After close(1000), how long the peer gets to answer the close frame before we terminate. */
const CLOSE_GRACE_MS = 2_000;

/**
 * One SIP-over-WebSocket connection (RFC 7118): a flow like a TCP connection (RFC 7118 §5,
 * RFC 5626), but each WebSocket message carries exactly one SIP message, so there is no stream
 * framing: the message goes to the delegate as is (Content-Length is optional, RFC 7118 §5).
 *
 * - Keepalive: a message of only CRLFs is the RFC 5626 §4.4.1 ping many WebRTC stacks send over
 *   WebSocket too (SIP.js, JsSIP); a double CRLF is answered with a single-CRLF pong. WebSocket
 *   ping frames are answered by ws and count as activity.
 * - Header-read timeout (slowloris): from the first byte after a complete message until the next
 *   message or control frame completes (bytes are observed before ws parses them).
 * - Idle timeout: no complete message or control frame either way for idleTimeoutMs.
 * - Sends are text frames when the message is valid UTF-8 (RFC 7118 §5: browsers surface text
 *   frames as strings), binary otherwise; bounded by maxWriteBufferBytes like TCP.
 */
export class WsConnection implements Connection {
  readonly flow: MutableFlow;
  readonly remoteKey: string;
  readonly inbound = true;
  private state: "open" | "closing" | "closed" = "open";
  private closeReason: FlowCloseReason | undefined;
  private lastActivity = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private headerTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly socket: Socket,
    id: number,
    transport: "ws" | "wss",
    private readonly host: ConnectionHost,
    private readonly limits: TransportLimits,
    remote: { address: string; port: number },
    localAddress: string,
    localPort: number,
  ) {
    this.flow = { id, transport, localAddress, localPort, remoteAddress: remote.address, remotePort: remote.port };
    this.remoteKey = remoteKey(transport, remote.address, remote.port);
    ws.on("message", this.onMessage);
    ws.on("ping", this.onControl);
    ws.on("pong", this.onControl);
    ws.on("error", this.onError);
    ws.on("close", this.onClose);
    // Runs before ws's own 'data' listener parses the chunk, so a chunk that completes a message
    // clears the clock the same chunk armed.
    socket.prependListener("data", this.onRawData);
    this.armIdle(limits.idleTimeoutMs);
  }

  get writable(): boolean {
    return this.state === "open" && this.ws.readyState === 1; // OPEN
  }

  write(bytes: Buffer): "ok" | "flow-gone" | "backpressure" {
    if (!this.writable) return "flow-gone";
    if (this.ws.bufferedAmount > this.limits.maxWriteBufferBytes) {
      this.host.drop("backpressure", this.flow);
      return "backpressure";
    }
    // queued behind earlier frames: in a buffer of its own (see StreamConnection.write)
    this.ws.send(this.ws.bufferedAmount > 0 ? ownedBytes(bytes) : bytes, { binary: !isUtf8(bytes) });
    this.lastActivity = performance.now();
    return "ok";
  }

  close(reason: FlowCloseReason, graceful: boolean): void {
    if (this.state !== "open") return;
    this.closeReason ??= reason;
    this.state = "closing";
    this.clearTimers();
    if (graceful) {
      this.ws.close(1000);
      this.graceTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
      this.graceTimer.unref();
    } else {
      this.ws.terminate();
    }
  }

  private readonly onRawData = (): void => {
    if (this.headerTimer === undefined && this.state === "open") {
      this.headerTimer = setTimeout(this.onHeaderTimeout, this.limits.headerReadTimeoutMs);
      this.headerTimer.unref();
    }
  };

  private readonly onMessage = (data: RawData): void => {
    if (this.state !== "open") return;
    this.completed();
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (bytes.length <= 4 && onlyCrlf(bytes)) {
      // RFC 5626 §4.4.1 over a WebSocket message: double CRLF ping -> single CRLF pong.
      if (bytes.length === 4) this.ws.send(PONG, { binary: false });
      this.host.delegate.onKeepalive?.(this.flow);
      return;
    }
    this.host.delegate.onMessage(bytes, this.flow);
  };

  private readonly onControl = (): void => {
    if (this.state === "open") this.completed();
  };

  private completed(): void {
    this.lastActivity = performance.now();
    if (this.headerTimer !== undefined) {
      clearTimeout(this.headerTimer);
      this.headerTimer = undefined;
    }
  }

  private readonly onHeaderTimeout = (): void => {
    this.headerTimer = undefined;
    if (this.state === "open") this.close("header-timeout", false);
  };

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.onIdleTimer, ms);
    this.idleTimer.unref();
  }

  private readonly onIdleTimer = (): void => {
    this.idleTimer = undefined;
    if (this.state !== "open") return;
    const remaining = this.limits.idleTimeoutMs - (performance.now() - this.lastActivity);
    if (remaining <= 0) this.close("idle-timeout", false);
    else this.armIdle(Math.ceil(remaining));
  };

  private readonly onError = (err: Error & { code?: string }): void => {
    // ws reports protocol violations (bad frame, 1009 message too big) here, then closes.
    if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") this.host.drop("too-large", this.flow);
    this.closeReason ??= "error";
  };

  private readonly onClose = (): void => {
    if (this.state === "closed") return;
    this.state = "closed";
    this.clearTimers();
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.socket.off("data", this.onRawData);
    this.host.streamClosed(this, this.closeReason ?? "remote-close");
  };

  private clearTimers(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.headerTimer !== undefined) clearTimeout(this.headerTimer);
    this.idleTimer = this.headerTimer = undefined;
  }
}

function onlyCrlf(b: Buffer): boolean {
  if (b.length === 0) return false;
  for (let i = 0; i < b.length; i++) if (b[i] !== 13 && b[i] !== 10) return false;
  return true;
}
