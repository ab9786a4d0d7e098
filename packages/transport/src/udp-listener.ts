import { createSocket } from "node:dgram";
import type { RemoteInfo, Socket } from "node:dgram";
import { lookup as dnsLookup } from "node:dns";
import type { LookupOneOptions } from "node:dns";
import { normaliseAddress } from "./address.js";
import { TransportError } from "./errors.js";
import { buildBindingSuccessResponse, isStunBindingRequest, looksLikeStun } from "./stun.js";
import type { BoundListener, DropSource, FlowInfo, TransportDelegate, TransportLimits } from "./types.js";

export interface UdpListenerHost {
  readonly delegate: TransportDelegate;
  drop(reason: string, where: FlowInfo | DropSource): void;
}

const CR = 0x0d;
const LF = 0x0a;

const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * The socket's address resolver. Node's dgram `send()` passes every destination through it, and the
 * default (`dns.lookup`) validates the name and defers the send to a `process.nextTick` even for an IP
 * literal: per datagram, on the edge's hottest path. TransportLayer only sends to IP literals (it
 * validated the family already), so answer those synchronously and leave anything else to dns.lookup.
 * An IPv6 literal is anything with a colon (a host name never has one); an IPv4 literal is digits and
 * dots only (a malformed one fails in the kernel's send like it would have after dns.lookup).
 */
export function ipLiteralLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  let v4 = hostname.length > 0;
  for (let i = 0; i < hostname.length; i++) {
    const c = hostname.charCodeAt(i);
    if (c === COLON) {
      callback(null, hostname, 6);
      return;
    }
    if (c !== DOT && (c < ZERO || c > NINE)) v4 = false;
  }
  if (v4) {
    callback(null, hostname, 4);
    return;
  }
  dnsLookup(hostname, typeof options === "number" ? { family: options } : options, callback);
}

/**
 * One UDP socket for SIP (RFC 3261 §18.1.2/§18.2.1: each datagram is one message) that also serves
 * as the RFC 5626 §4.4.2 STUN keepalive server on the same port.
 */
export class UdpListener {
  readonly transport = "udp" as const;
  readonly family: 4 | 6;
  readonly host: string;
  port: number;
  private readonly socket: Socket;
  private closed = false;

  constructor(
    host: string,
    port: number,
    family: 4 | 6,
    private readonly owner: UdpListenerHost,
    private readonly limits: TransportLimits,
  ) {
    this.host = host;
    this.port = port;
    this.family = family;
    this.socket = createSocket({ type: family === 6 ? "udp6" : "udp4", lookup: ipLiteralLookup });
    this.socket.on("message", this.onDatagram);
  }

  get name(): string {
    return "udp:" + this.host + ":" + this.port;
  }

  bind(): Promise<BoundListener> {
    const listen = "udp:" + this.host + ":" + this.port;
    return new Promise<BoundListener>((resolve, reject) => {
      const onBindError = (err: NodeJS.ErrnoException): void => {
        reject(
          err.code === "EADDRINUSE"
            ? new TransportError("address-in-use", listen, `cannot listen on ${listen}: address already in use`, { cause: err })
            : new TransportError("bind-failed", listen, `cannot listen on ${listen}: ${err.message}`, { cause: err }),
        );
      };
      this.socket.once("error", onBindError);
      this.socket.bind({ address: this.host, port: this.port, exclusive: true }, () => {
        this.socket.off("error", onBindError);
        this.socket.on("error", this.onSocketError);
        try {
          // Bursts of REGISTERs after an outage overflow the default ~200 KiB buffer; the kernel
          // clamps the value to net.core.rmem_max, and refuses only on odd platforms.
          this.socket.setRecvBufferSize(this.limits.udpRecvBufferBytes);
        } catch {
          /* keep the default */
        }
        this.port = this.socket.address().port;
        resolve({ transport: "udp", host: this.host, port: this.port });
      });
    });
  }

  /**
   * Send one datagram. `address` must be of this socket's family (an IPv4 peer reached through a
   * dual-stack IPv6 socket is given as "::ffff:a.b.c.d"). Errors (EMSGSIZE, unreachable) arrive
   * asynchronously on the socket and are reported as a drop.
   */
  send(bytes: Buffer, address: string, port: number): void {
    this.socket.send(bytes, port, address);
  }

  /** Close the socket (also one whose bind failed: it still holds a handle). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed by Node
      }
    });
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    // Without a send callback, send errors are emitted here (Node dgram). The socket stays usable.
    this.owner.drop("udp-send-error:" + (err.code ?? "unknown"), {
      transport: "udp",
      remoteAddress: "",
      remotePort: 0,
    });
  };

  private readonly onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    const length = msg.length;
    const flow: FlowInfo = {
      id: 0,
      transport: "udp",
      localAddress: this.host,
      localPort: this.port,
      remoteAddress: normaliseAddress(rinfo.address),
      remotePort: rinfo.port,
    };
    if (length === 0) {
      this.owner.drop("empty", flow);
      return;
    }
    if (length > this.limits.maxMessageBytes) {
      this.owner.drop("too-large", flow);
      return;
    }
    const b0 = msg[0]!;
    if (b0 === CR || b0 === LF) {
      // RFC 5626 §4.4 keepalives are STUN on UDP, but many UAs send CRLF(s) anyway: count them as
      // keepalives and do not answer. CRLFs followed by a message go to the parser, which skips
      // them (RFC 3261 §7.5).
      let i = 1;
      while (i < length && (msg[i] === CR || msg[i] === LF)) i++;
      if (i === length) {
        this.owner.delegate.onKeepalive?.(flow);
        return;
      }
    } else if ((b0 & 0xc0) === 0 && looksLikeStun(msg)) {
      if (!isStunBindingRequest(msg)) {
        this.owner.drop("stun-unsupported", flow);
        return;
      }
      // RFC 5626 §4.4.2 / RFC 5389 §7.3.1: answer with the address the request came from.
      const response = buildBindingSuccessResponse(msg, flow.remoteAddress, rinfo.port);
      if (response !== undefined) this.socket.send(response, rinfo.port, rinfo.address);
      this.owner.delegate.onKeepalive?.(flow);
      return;
    }
    this.owner.delegate.onMessage(msg, flow);
  };
}
