import { createSocket } from "node:dgram";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TransportError } from "./errors.js";
import { RecordingDelegate, sipRequest } from "./test-support.js";
import { TransportLayer } from "./transport-layer.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function peerServer(): Promise<{ server: Server; port: number; sockets: Socket[]; data: () => string }> {
  const sockets: Socket[] = [];
  let received = "";
  const server = createServer((s) => {
    sockets.push(s);
    s.on("data", (c: Buffer) => (received += c.toString("latin1")));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  return { server, port: typeof addr === "object" && addr ? addr.port : 0, sockets, data: () => received };
}

/** Let handles closed in earlier ticks leave the active list (libuv closes them in a later loop phase). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return { tcpServer: counts.TCPServerWrap ?? 0, tcpSocket: counts.TCPSocketWrap ?? 0, udp: counts.UDPWrap ?? 0 };
}

describe("TransportLayer", () => {
  it("RFC 3261 §18.1.1: send() over TCP opens one connection, then reuses it", async () => {
    const peer = await peerServer();
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({ listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }], delegate });
    await layer.start();
    cleanups.push(() => layer.stop());

    const a = sipRequest("out-a");
    const b = sipRequest("out-b");
    const r1 = layer.send(a, { transport: "tcp", address: "127.0.0.1", port: peer.port });
    expect(r1.ok).toBe(true);
    const opened = await delegate.waitFor("opened");
    expect(opened.flow).toMatchObject({ transport: "tcp", remoteAddress: "127.0.0.1", remotePort: peer.port, localAddress: "127.0.0.1" });
    expect(opened.flow.localPort).toBeGreaterThan(0);
    const r2 = layer.send(b, { transport: "tcp", address: "127.0.0.1", port: peer.port });
    expect(r1.ok && r2.ok && r1.flow.id === r2.flow.id).toBe(true);
    expect(layer.findConnection("tcp", "127.0.0.1", peer.port)?.id).toBe(opened.flow.id);

    await expect.poll(() => peer.data().length, { timeout: 5_000 }).toBe(a.length + b.length);
    expect(peer.data()).toBe(a.toString("latin1") + b.toString("latin1"));
    expect(peer.sockets).toHaveLength(1);

    // The peer answers over the same connection, and it is framed like an accepted one.
    peer.sockets[0]!.write(sipRequest("answer"));
    const msg = await delegate.waitFor("message");
    expect(msg.flow.id).toBe(opened.flow.id);
    expect(layer.stats().flowsByTransport.tcp).toBe(1);
  });

  it("backpressure: a message that would grow a connection's queue past the bound is dropped and reported", async () => {
    const peer = await peerServer();
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({
      listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }],
      delegate,
      limits: { maxWriteBufferBytes: 10 },
    });
    await layer.start();
    cleanups.push(() => layer.stop());
    const m = sipRequest("queued");
    const target = { transport: "tcp", address: "127.0.0.1", port: peer.port } as const;
    // While connecting, writes queue in the socket: the first fits, the second finds the queue full.
    expect(layer.send(m, target).ok).toBe(true);
    expect(layer.send(m, target)).toEqual({ ok: false, reason: "backpressure" });
    const drop = await delegate.waitFor("drop");
    expect(drop.reason).toBe("backpressure");
    expect(layer.stats().drops).toBe(1);
    await expect.poll(() => peer.data().length, { timeout: 5_000 }).toBe(m.length);
    // Once flushed, the connection accepts messages again.
    expect(layer.send(m, target).ok).toBe(true);
    await expect.poll(() => peer.data().length, { timeout: 5_000 }).toBe(2 * m.length);
  });

  it("a message that has to wait in a connection's queue is kept in a buffer of its own, not as a view pinning an 8 KiB pool slab", async () => {
    const peer = await peerServer();
    const layer = new TransportLayer({ listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }], delegate: new RecordingDelegate() });
    await layer.start();
    cleanups.push(() => layer.stop());
    const pooled = Buffer.from(sipRequest("pooled").toString("latin1"), "latin1");
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length); // a view into Node's pool
    const target = { transport: "tcp", address: "127.0.0.1", port: peer.port } as const;
    const r = layer.send(pooled, target);
    if (!r.ok) throw new Error(r.reason);
    expect(layer.send(pooled, target).ok).toBe(true);
    // Still connecting: the first write waits as the socket's pending data, the second in its
    // write queue (Node internals, reached through the layer's own).
    type Queued = { _pendingData: Buffer | null; writableBuffer: { chunk: Buffer }[] };
    const socket = (layer as unknown as { connections: Map<number, { socket: Queued }> }).connections.get(r.flow.id)!.socket;
    const waiting = [socket._pendingData, ...socket.writableBuffer.map((w) => w.chunk)].filter((b): b is Buffer => Buffer.isBuffer(b));
    expect(waiting).toHaveLength(2);
    for (const b of waiting) {
      expect(b.equals(pooled)).toBe(true);
      expect(b.buffer.byteLength).toBe(pooled.length);
    }
    await expect.poll(() => peer.data().length, { timeout: 5_000 }).toBe(2 * pooled.length);
  });

  it("send() to a closed TCP port reports the failed connect through onFlowClosed(error)", async () => {
    const probe = await peerServer();
    const deadPort = probe.port;
    await new Promise<void>((r) => probe.server.close(() => r()));
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({ listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }], delegate });
    await layer.start();
    cleanups.push(() => layer.stop());
    const r = layer.send(Buffer.from("x"), { transport: "tcp", address: "127.0.0.1", port: deadPort });
    expect(r.ok).toBe(true);
    const closed = await delegate.waitFor("closed");
    expect(closed.reason).toBe("error");
    expect(r.ok && closed.flow.id === r.flow.id).toBe(true);
    expect(delegate.of("opened")).toHaveLength(0);
    expect(layer.flows()).toHaveLength(0);
  });

  it("send() refuses transports without a listener and ones not implemented", async () => {
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({ listen: [{ transport: "udp", host: "127.0.0.1", port: 0 }], delegate });
    await layer.start();
    cleanups.push(() => layer.stop());
    expect(layer.send(Buffer.from("x"), { transport: "tcp", address: "127.0.0.1", port: 5060 })).toEqual({ ok: false, reason: "no-listener" });
    expect(layer.send(Buffer.from("x"), { transport: "ws", address: "127.0.0.1", port: 5060 })).toEqual({
      ok: false,
      reason: "unsupported-transport",
    });
  });

  it("start() rejects EADDRINUSE with an error naming the address, and releases what it bound", async () => {
    const peer = await peerServer();
    await settle();
    const before = resourceCounts();
    const layer = new TransportLayer({
      listen: [
        { transport: "udp", host: "127.0.0.1", port: 0 },
        { transport: "tcp", host: "127.0.0.1", port: peer.port },
      ],
      delegate: new RecordingDelegate(),
    });
    const err: unknown = await layer.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ code: "address-in-use", listen: `tcp:127.0.0.1:${peer.port}` });
    expect((err as Error).message).toContain(`tcp:127.0.0.1:${peer.port}`);
    await settle();
    expect(resourceCounts()).toEqual(before);
  });

  it("start() rejects a UDP port in use naming it, and leaves no socket behind", async () => {
    const holder = createSocket("udp4");
    holder.bind({ address: "127.0.0.1", port: 0, exclusive: true });
    await once(holder, "listening");
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const port = holder.address().port;
    await settle();
    const before = resourceCounts();
    const layer = new TransportLayer({ listen: [{ transport: "udp", host: "127.0.0.1", port }], delegate: new RecordingDelegate() });
    await expect(layer.start()).rejects.toMatchObject({
      name: "TransportError",
      code: "address-in-use",
      message: `cannot listen on udp:127.0.0.1:${port}: address already in use`,
    });
    await settle();
    expect(resourceCounts()).toEqual(before);
  });

  it("start() rejects tls/wss without certificates, naming the setting", async () => {
    for (const transport of ["tls", "wss"] as const) {
      const layer = new TransportLayer({ listen: [{ transport, host: "127.0.0.1", port: 5061 }], delegate: new RecordingDelegate() });
      await expect(layer.start()).rejects.toMatchObject({
        code: "bad-tls-credentials",
        listen: `${transport}:127.0.0.1:5061`,
        message: `listen ${transport}:127.0.0.1:5061: a certificate and key are required for ${transport}`,
      });
    }
    const missing = new TransportLayer({
      listen: [{ transport: "tls", host: "127.0.0.1", port: 0 }],
      delegate: new RecordingDelegate(),
      tls: { certFile: "/nonexistent/edge.crt", keyFile: "/nonexistent/edge.key" },
    });
    await expect(missing.start()).rejects.toThrow("cannot read TLS certificate /nonexistent/edge.crt");
    const bad = new TransportLayer({ listen: [{ transport: "udp", host: "sip.example.com", port: 0 }], delegate: new RecordingDelegate() });
    await expect(bad.start()).rejects.toMatchObject({ code: "bad-listen-address" });
  });

  it("stopAccepting() refuses new connections while existing flows keep working", async () => {
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({ listen: [{ transport: "tcp", host: "127.0.0.1", port: 0 }], delegate });
    const [bound] = await layer.start();
    cleanups.push(() => layer.stop());
    const s = connect({ host: "127.0.0.1", port: bound!.port });
    cleanups.push(() => void s.destroy());
    await once(s, "connect");
    await delegate.waitFor("opened");
    await layer.stopAccepting();
    const refused = connect({ host: "127.0.0.1", port: bound!.port });
    const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    expect(err.code).toBe("ECONNREFUSED");
    s.write(sipRequest("draining"));
    await delegate.waitFor("message");
  });

  it("stop() closes listeners, connections and UDP sockets: no handles left", async () => {
    await settle();
    const before = resourceCounts();
    const peer = await peerServer();
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({
      listen: [
        { transport: "udp", host: "127.0.0.1", port: 0 },
        { transport: "tcp", host: "127.0.0.1", port: 0 },
      ],
      delegate,
    });
    const bound = await layer.start();
    const tcpPort = bound.find((b) => b.transport === "tcp")!.port;
    const inbound = connect({ host: "127.0.0.1", port: tcpPort });
    const inboundClosed = once(inbound, "close");
    inbound.on("error", () => {});
    await once(inbound, "connect");
    layer.send(Buffer.from("x"), { transport: "tcp", address: "127.0.0.1", port: peer.port });
    await delegate.waitFor("opened", () => delegate.of("opened").length === 2);
    expect(layer.flows()).toHaveLength(2);

    const peerSideClosed = once(peer.sockets[0]!, "close");
    await layer.stop();
    await inboundClosed;
    await peerSideClosed;
    const closed = delegate.of("closed");
    expect(closed.map((c) => c.reason)).toEqual(["local-close", "local-close"]);
    expect(layer.flows()).toHaveLength(0);
    expect(layer.send(Buffer.from("x"), { transport: "udp", address: "127.0.0.1", port: 9 })).toEqual({ ok: false, reason: "stopped" });
    // The ports are free again: both sockets are really closed.
    const rebindTcp = createServer();
    rebindTcp.listen({ host: "127.0.0.1", port: tcpPort, exclusive: true });
    await once(rebindTcp, "listening");
    await new Promise<void>((r) => rebindTcp.close(() => r()));
    const rebindUdp = createSocket("udp4");
    rebindUdp.bind({ address: "127.0.0.1", port: bound.find((b) => b.transport === "udp")!.port, exclusive: true });
    await once(rebindUdp, "listening");
    await new Promise<void>((r) => rebindUdp.close(() => r()));
    // And no socket or server handle of ours is left beyond the baseline (the peer's are closed too).
    await new Promise<void>((r) => {
      for (const s of peer.sockets) s.destroy();
      peer.server.close(() => r());
    });
    await settle();
    expect(resourceCounts()).toEqual(before);
  });

  it("a dual-stack-free IPv6 listener serves ::1", async () => {
    const delegate = new RecordingDelegate();
    const layer = new TransportLayer({ listen: [{ transport: "udp", host: "::1", port: 0 }], delegate });
    const [bound] = await layer.start();
    cleanups.push(() => layer.stop());
    const c = createSocket("udp6");
    c.bind(0, "::1");
    await once(c, "listening");
    cleanups.push(() => new Promise<void>((r) => c.close(() => r())));
    c.send(sipRequest("v6"), bound!.port, "::1");
    const ev = await delegate.waitFor("message");
    expect(ev.flow).toMatchObject({ remoteAddress: "::1", remotePort: c.address().port, localAddress: "::1" });
  });
});
