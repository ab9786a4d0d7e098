/**
 * WsConnection.write with a stand-in WebSocket (pure logic: which bytes reach ws.send). A frame
 * queued behind earlier ones (bufferedAmount > 0) is kept until the peer reads; it must be in a
 * buffer of its own, not a view pinning an 8 KiB pool slab (StreamConnection.write does the same
 * for TCP/TLS, tested over real sockets in transport-layer.test.ts).
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import type { ConnectionHost } from "./connection.js";
import { DEFAULT_LIMITS } from "./types.js";
import { WsConnection } from "./ws-connection.js";

class StandInWs extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Buffer[] = [];
  send(data: Buffer): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

describe("WsConnection.write", () => {
  it("sends a frame as it is when nothing waits, and a copy of its own size behind queued frames", () => {
    const ws = new StandInWs();
    const host: ConnectionHost = { delegate: { onMessage: () => {} }, streamClosed: () => {}, streamConnected: () => {}, drop: () => {} };
    const conn = new WsConnection(ws as unknown as WebSocket, new EventEmitter() as unknown as Socket, 1, "ws", host, { ...DEFAULT_LIMITS, idleTimeoutMs: 0, headerReadTimeoutMs: 0 }, { address: "127.0.0.1", port: 5 }, "127.0.0.1", 8080);
    const pooled = Buffer.from("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "latin1");
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    expect(conn.write(pooled)).toBe("ok");
    expect(ws.sent[0]).toBe(pooled);
    ws.bufferedAmount = 4096; // the peer is behind
    expect(conn.write(pooled)).toBe("ok");
    expect(ws.sent[1]).not.toBe(pooled);
    expect(ws.sent[1]!.equals(pooled)).toBe(true);
    expect(ws.sent[1]!.buffer.byteLength).toBe(pooled.length);
    conn.close("local-close", false);
  });
});
