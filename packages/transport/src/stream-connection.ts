import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { ownedBytes, StreamFramer } from "@edgepath/sip";
import type { SipParseError } from "@edgepath/sip";
import { normaliseAddress } from "./address.js";
import { remoteKey } from "./connection.js";
import type { Connection, ConnectionHost } from "./connection.js";
import type { FlowCloseReason, MutableFlow, TransportKind, TransportLimits } from "./types.js";

export type StreamConnectionHost = ConnectionHost;

type State = "connecting" | "open" | "failing" | "closing" | "closed";

/** RFC 5626 §4.4.1: the pong answering a double-CRLF ping. */
const PONG = Buffer.from("\r\n", "latin1");
/** After a graceful end(), how long the peer gets to close its side before we destroy. */
const END_GRACE_MS = 2_000;

/**
 * One SIP stream connection (RFC 3261 §18.3): TCP, and TLS (a TLSSocket is a net.Socket; the
 * listener hands over the socket after the handshake; outbound TLS waits for 'secureConnect'). Frames the byte stream
 * into messages with the SIP package's StreamFramer, answers CRLF keepalives, and enforces the
 * idle and header-read timeouts and the write-buffer bound.
 *
 * Hot path (onData): one framer push per chunk, no closures, no copies here (the framer slices).
 */
export class StreamConnection implements Connection {
  readonly flow: MutableFlow;
  /** Key for the layer's remote index ("tcp 192.0.2.1 5060"). */
  readonly remoteKey: string;
  private state: State;
  private closeReason: FlowCloseReason | undefined;
  private readonly framer: StreamFramer;
  private lastActivity = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private headerTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    id: number,
    transport: TransportKind,
    /** Accepted from a listener (counts against connection limits) rather than opened by send(). */
    readonly inbound: boolean,
    private readonly host: StreamConnectionHost,
    private readonly limits: TransportLimits,
    remote: { address: string; port: number },
    localAddress: string,
    /** Outbound: the event that means "established" ('secureConnect' for TLS: after the handshake). */
    connectEvent: "connect" | "secureConnect" = "connect",
  ) {
    this.flow = {
      id,
      transport,
      localAddress: inbound ? normaliseAddress(socket.localAddress ?? localAddress) : localAddress,
      localPort: inbound ? (socket.localPort ?? 0) : 0,
      remoteAddress: remote.address,
      remotePort: remote.port,
    };
    this.remoteKey = remoteKey(transport, remote.address, remote.port);
    this.framer = new StreamFramer({ maxMessageBytes: limits.maxMessageBytes });
    socket.setNoDelay(true);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    if (inbound) {
      this.state = "open";
      this.armIdle(limits.idleTimeoutMs);
    } else {
      this.state = "connecting";
      socket.once(connectEvent, this.onConnect);
      this.connectTimer = setTimeout(this.onConnectTimeout, limits.connectTimeoutMs);
      this.connectTimer.unref();
    }
  }

  /** Open (or connecting: writes queue in the socket until connected) and not being closed. */
  get writable(): boolean {
    return (this.state === "open" || this.state === "connecting" || this.state === "failing") && this.socket.writable;
  }

  /** Unsent bytes queued on the socket. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Queue `bytes` for sending. Refuses when the connection is going away ("flow-gone") or when the
   * peer is not reading and the queue is over its bound ("backpressure": the message is dropped
   * and reported rather than buffered without limit).
   */
  write(bytes: Buffer): "ok" | "flow-gone" | "backpressure" {
    if (!this.writable) return "flow-gone";
    if (this.socket.writableLength > this.limits.maxWriteBufferBytes) {
      this.host.drop("backpressure", this.flow);
      return "backpressure";
    }
    // Bytes that must wait (still connecting, or the peer is behind) are kept until sent: in a
    // buffer of their own, so a stalled peer's queue pins its own bytes, not 8 KiB pool slabs.
    this.socket.write(this.state === "connecting" || this.socket.writableLength > 0 ? ownedBytes(bytes) : bytes);
    this.lastActivity = performance.now();
    return "ok";
  }

  /**
   * Close the connection; `onFlowClosed` follows from the socket's 'close' event with `reason`
   * (unless a reason was already recorded). Graceful: flush queued writes and send FIN, destroying
   * after a grace period if the peer does not close; otherwise destroy at once.
   */
  close(reason: FlowCloseReason, graceful: boolean): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.closeReason ??= reason;
    this.state = "closing";
    this.clearTimers();
    if (graceful && !this.socket.destroyed) {
      this.socket.end();
      this.graceTimer = setTimeout(this.onGraceExpired, END_GRACE_MS);
      this.graceTimer.unref();
    } else {
      this.socket.destroy();
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state !== "open") return; // failing/closing: discard, but keep reading so the FIN arrives
    this.lastActivity = performance.now();
    const events = this.framer.push(chunk);
    let completed = false;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      switch (ev.kind) {
        case "message":
          completed = true;
          this.host.delegate.onMessage(ev.bytes, this.flow);
          break;
        case "keepalive":
          completed = true;
          // RFC 5626 §4.4.1: a double-CRLF ping is answered with a single-CRLF pong.
          if (ev.pong) this.socket.write(PONG);
          this.host.delegate.onKeepalive?.(this.flow);
          break;
        case "error":
          this.fail(ev.error);
          return;
      }
      if (this.state !== "open") return; // the delegate closed the flow
    }
    this.updateHeaderTimer(completed, chunk);
  };

  /**
   * Header-read timeout (slowloris): runs from the first byte of an incomplete message until that
   * message completes. A chunk that completes a message and leaves part of the next one restarts
   * the clock for the next one; bytes that complete nothing leave it running.
   * Up to 3 held-back CR/LF bytes are not a message: the framer keeps a lone "\r\n" (a single-CRLF
   * keepalive some UAs send, or half of a ping) until more arrives, and that must not time out.
   */
  private updateHeaderTimer(completed: boolean, chunk: Buffer): void {
    const buffered = this.framer.buffered;
    if (buffered === 0 || (buffered <= 3 && tailIsCrlf(chunk, buffered))) {
      if (this.headerTimer !== undefined) {
        clearTimeout(this.headerTimer);
        this.headerTimer = undefined;
      }
    } else if (this.headerTimer === undefined) {
      this.headerTimer = setTimeout(this.onHeaderTimeout, this.limits.headerReadTimeoutMs);
      this.headerTimer.unref();
    } else if (completed) {
      this.headerTimer.refresh();
    }
  }

  /** RFC 3261 §18.3: a stream that cannot be framed is closed; the delegate may answer first. */
  private fail(error: SipParseError): void {
    this.state = "failing";
    this.closeReason = "error";
    this.clearTimers();
    this.host.delegate.onStreamError?.(error, this.flow);
    setImmediate(this.finishFailure);
  }

  private readonly finishFailure = (): void => {
    this.close("error", true);
  };

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.onIdleTimer, ms);
    this.idleTimer.unref();
  }

  /** Idle timer is lazy: activity only stamps a time; the timer re-arms for the remainder when it fires. */
  private readonly onIdleTimer = (): void => {
    this.idleTimer = undefined;
    if (this.state !== "open") return;
    const idleFor = performance.now() - this.lastActivity;
    const remaining = this.limits.idleTimeoutMs - idleFor;
    if (remaining <= 0) this.close("idle-timeout", false);
    else this.armIdle(Math.ceil(remaining));
  };

  private readonly onHeaderTimeout = (): void => {
    this.headerTimer = undefined;
    if (this.state === "open" && this.framer.buffered > 0) this.close("header-timeout", false);
  };

  private readonly onConnect = (): void => {
    if (this.state !== "connecting") return;
    if (this.connectTimer !== undefined) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    this.state = "open";
    this.flow.localAddress = normaliseAddress(this.socket.localAddress ?? this.flow.localAddress);
    this.flow.localPort = this.socket.localPort ?? 0;
    this.lastActivity = performance.now();
    this.armIdle(this.limits.idleTimeoutMs);
    this.host.streamConnected(this);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = undefined;
    if (this.state === "connecting") this.close("error", false);
  };

  private readonly onGraceExpired = (): void => {
    this.graceTimer = undefined;
    this.socket.destroy();
  };

  private readonly onEnd = (): void => {
    // Peer sent FIN; with allowHalfOpen false Node ends our side and 'close' follows.
    this.closeReason ??= "remote-close";
  };

  private readonly onError = (): void => {
    // ECONNRESET, ECONNREFUSED, EPIPE, ...: the flow failed (RFC 5626 §4.4). 'close' follows.
    this.closeReason ??= "error";
  };

  private readonly onClose = (): void => {
    if (this.state === "closed") return;
    this.state = "closed";
    this.clearTimers();
    if (this.graceTimer !== undefined) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    this.host.streamClosed(this, this.closeReason ?? "remote-close");
  };

  private clearTimers(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.headerTimer !== undefined) clearTimeout(this.headerTimer);
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.idleTimer = this.headerTimer = this.connectTimer = undefined;
  }
}

/** The last `n` bytes of `chunk` (n <= 3, all within the chunk) are CR or LF. */
function tailIsCrlf(chunk: Buffer, n: number): boolean {
  if (n > chunk.length) return false;
  for (let i = chunk.length - n; i < chunk.length; i++) {
    const c = chunk[i];
    if (c !== 13 && c !== 10) return false;
  }
  return true;
}
