import { once } from "node:events";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RecordingDelegate, sipRequest } from "./test-support.js";
import { TransportLayer } from "./transport-layer.js";
import type { TransportLimits } from "./types.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tcpLayer(limits?: Partial<TransportLimits>) {
  const delegate = new RecordingDelegate();
  const layer = new TransportLayer({ listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }], delegate, ...(limits ? { limits } : {}) });
  const [bound] = await layer.start();
  cleanups.push(() => layer.stop());
  return { layer, delegate, port: bound!.port };
}

async function dial(port: number): Promise<Socket> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => {}); // resets are expected in limit tests; they show up as 'close'
  cleanups.push(() => void s.destroy());
  await once(s, "connect");
  return s;
}

/** Resolves with everything the socket received once it closes. */
function collectUntilClose(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => s.once("close", () => resolve(Buffer.concat(chunks))));
}

describe("TCP stream connections (RFC 3261 §18.3 framing)", () => {
  it("delivers two pipelined messages that arrive in one chunk", async () => {
    const { delegate, port } = await tcpLayer();
    const s = await dial(port);
    const a = sipRequest("pipe-a", "hello");
    const b = sipRequest("pipe-b");
    s.write(Buffer.concat([a, b]));
    await delegate.waitFor("message", (e) => e.bytes.includes("pipe-b"));
    const msgs = delegate.of("message");
    expect(msgs).toHaveLength(2);
    expect(msgs[0]!.bytes.equals(a)).toBe(true);
    expect(msgs[1]!.bytes.equals(b)).toBe(true);
    const opened = delegate.of("opened");
    expect(opened).toHaveLength(1);
    expect(msgs[0]!.flow).toBe(opened[0]!.flow);
    expect(msgs[0]!.flow).toMatchObject({ transport: "tcp", remoteAddress: "127.0.0.1", remotePort: s.localPort, localPort: port });
    expect(msgs[0]!.flow.id).toBeGreaterThan(0);
  });

  it("delivers one message split over many chunks", async () => {
    const { delegate, port } = await tcpLayer();
    const s = await dial(port);
    const m = sipRequest("split-1", "body-bytes");
    for (let i = 0; i < m.length; i += 7) {
      s.write(m.subarray(i, i + 7));
      // Let each piece go out as its own segment.
      await new Promise((r) => setImmediate(r));
    }
    const ev = await delegate.waitFor("message");
    expect(ev.bytes.equals(m)).toBe(true);
  });

  it("RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong and counts as keepalive", async () => {
    const { delegate, port } = await tcpLayer();
    const s = await dial(port);
    const pong = once(s, "data") as Promise<[Buffer]>;
    s.write("\r\n\r\n");
    const [data] = await pong;
    expect(data.toString("latin1")).toBe("\r\n");
    await delegate.waitFor("keepalive");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("RFC 3261 §18.3: a framing error is reported, may be answered on the flow, then closes with reason error", async () => {
    const { layer, delegate, port } = await tcpLayer();
    delegate.onStreamErrorHook = (_err, flow) => {
      const r = layer.sendOnFlow(Buffer.from("SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), flow);
      expect(r.ok).toBe(true);
    };
    const s = await dial(port);
    const received = collectUntilClose(s);
    // No Content-Length: mandatory on streams.
    s.write("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
    const err = await delegate.waitFor("stream-error");
    expect(err.error.name).toBe("SipParseError");
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("error");
    expect(closed.flow.id).toBe(err.flow.id);
    expect((await received).toString()).toContain("SIP/2.0 400 Bad Request");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("DESIGN §6: the per-IP connection cap refuses an extra connection while existing ones keep working", async () => {
    const { delegate, port } = await tcpLayer({ maxConnectionsPerIp: 2 });
    const first = await dial(port);
    await dial(port);
    await delegate.waitFor("opened", () => delegate.of("opened").length === 2);
    const third = await dial(port);
    const thirdData = collectUntilClose(third);
    const drop = await delegate.waitFor("drop");
    expect(drop.reason).toBe("connection-limit");
    expect(drop.flow).toMatchObject({ transport: "tcp", remoteAddress: "127.0.0.1", remotePort: third.localPort });
    expect((await thirdData).length).toBe(0);
    expect(delegate.of("opened")).toHaveLength(2);
    first.write(sipRequest("still-works"));
    const ev = await delegate.waitFor("message");
    expect(ev.bytes.includes("still-works")).toBe(true);
  });

  it("DESIGN §6: the total connection cap refuses an extra connection and frees the slot on close", async () => {
    const { delegate, port } = await tcpLayer({ maxConnections: 1 });
    const first = await dial(port);
    await delegate.waitFor("opened");
    const second = await dial(port);
    const secondClosed = collectUntilClose(second);
    await delegate.waitFor("drop", (e) => e.reason === "connection-limit");
    await secondClosed;
    first.write(sipRequest("total-ok"));
    await delegate.waitFor("message");
    first.end();
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("remote-close");
    await dial(port);
    await delegate.waitFor("opened", () => delegate.of("opened").length === 2);
    expect(delegate.of("drop")).toHaveLength(1);
  });

  it("closes an idle connection with reason idle-timeout", async () => {
    const { delegate, port } = await tcpLayer({ idleTimeoutMs: 200 });
    const s = await dial(port);
    const sClosed = once(s, "close");
    const started = performance.now();
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("idle-timeout");
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    await sClosed;
  });

  it("RFC 5626 §4.4.1: keepalives count as activity for the idle timeout", async () => {
    const { delegate, port } = await tcpLayer({ idleTimeoutMs: 600 });
    const s = await dial(port);
    for (let i = 0; i < 9; i++) {
      s.write("\r\n\r\n");
      await delegate.waitFor("keepalive", () => delegate.of("keepalive").length === i + 1);
      await new Promise((r) => setTimeout(r, 100));
    }
    // At least 900 ms after connecting, well past 600 ms, and still open.
    expect(delegate.of("closed")).toHaveLength(0);
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("idle-timeout");
  });

  it("closes a connection that leaves a message incomplete with reason header-timeout (slowloris)", async () => {
    const { delegate, port } = await tcpLayer({ headerReadTimeoutMs: 200, idleTimeoutMs: 60_000 });
    const s = await dial(port);
    s.write("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n");
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("header-timeout");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("RFC 5626 §4.4.1: a lone CRLF held by the framer does not start the header-read clock", async () => {
    const { delegate, port } = await tcpLayer({ headerReadTimeoutMs: 100, idleTimeoutMs: 60_000 });
    const s = await dial(port);
    s.write("\r\n");
    // Several header-read timeouts later the connection is still there and frames the next message.
    await new Promise((r) => setTimeout(r, 350));
    expect(delegate.of("closed")).toHaveLength(0);
    s.write(sipRequest("after-single-crlf"));
    const ev = await delegate.waitFor("message");
    expect(ev.bytes.includes("after-single-crlf")).toBe(true);
  });

  it("a complete message stops the header-read clock", async () => {
    const { delegate, port } = await tcpLayer({ headerReadTimeoutMs: 150, idleTimeoutMs: 60_000 });
    const s = await dial(port);
    const m = sipRequest("in-time");
    s.write(m.subarray(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    s.write(m.subarray(20));
    await delegate.waitFor("message");
    await new Promise((r) => setTimeout(r, 300));
    expect(delegate.of("closed")).toHaveLength(0);
  });

  it("sendOnFlow to a closed flow returns flow-gone", async () => {
    const { layer, delegate, port } = await tcpLayer();
    const s = await dial(port);
    const { flow } = await delegate.waitFor("opened");
    expect(layer.getFlow(flow.id)).toBe(flow);
    expect(layer.sendOnFlow(Buffer.from("x"), flow).ok).toBe(true);
    s.destroy();
    await delegate.waitFor("closed");
    expect(layer.sendOnFlow(Buffer.from("x"), flow)).toEqual({ ok: false, reason: "flow-gone" });
    expect(layer.getFlow(flow.id)).toBeUndefined();
  });

  it("closeFlow closes with reason local-close after flushing queued data", async () => {
    const { layer, delegate, port } = await tcpLayer();
    const s = await dial(port);
    const received = collectUntilClose(s);
    const { flow } = await delegate.waitFor("opened");
    layer.sendOnFlow(Buffer.from("last words"), flow);
    layer.closeFlow(flow.id);
    expect((await delegate.waitFor("closed")).reason).toBe("local-close");
    expect((await received).toString()).toBe("last words");
  });
});
