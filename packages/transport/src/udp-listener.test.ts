import { createSocket } from "node:dgram";
import type { Socket } from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { STUN_MAGIC_COOKIE, readXorMappedAddress } from "./stun.js";
import { RecordingDelegate, sipRequest } from "./test-support.js";
import { TransportLayer } from "./transport-layer.js";
import { ipLiteralLookup } from "./udp-listener.js";
import type { TransportLimits } from "./types.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function udpLayer(limits?: Partial<TransportLimits>) {
  const delegate = new RecordingDelegate();
  const layer = new TransportLayer({ listen: [{ transport: "udp", host: "127.0.0.1", port: 0 }], delegate, ...(limits ? { limits } : {}) });
  const [bound] = await layer.start();
  cleanups.push(() => layer.stop());
  return { layer, delegate, port: bound!.port };
}

async function client(): Promise<Socket> {
  const s = createSocket("udp4");
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

describe("UDP listener (RFC 3261 §18.1.2, §18.2.1)", () => {
  it("delivers one datagram as one message with the peer's address as flow", async () => {
    const { delegate, port } = await udpLayer();
    const c = await client();
    const msg = sipRequest("udp-in-1");
    c.send(msg, port, "127.0.0.1");
    const ev = await delegate.waitFor("message");
    expect(ev.bytes.equals(msg)).toBe(true);
    expect(ev.flow).toEqual({
      id: 0,
      transport: "udp",
      localAddress: "127.0.0.1",
      localPort: port,
      remoteAddress: "127.0.0.1",
      remotePort: c.address().port,
    });
  });

  it("send() and sendOnFlow() reach the peer from the listener's port", async () => {
    const { layer, port } = await udpLayer();
    const c = await client();
    const got = once(c, "message") as Promise<[Buffer, { port: number }]>;
    const r = layer.send(Buffer.from("SIP/2.0 200 OK\r\n\r\n"), { transport: "udp", address: "127.0.0.1", port: c.address().port });
    expect(r.ok).toBe(true);
    const [data, rinfo] = await got;
    expect(data.toString()).toBe("SIP/2.0 200 OK\r\n\r\n");
    expect(rinfo.port).toBe(port);

    const got2 = once(c, "message") as Promise<[Buffer, { port: number }]>;
    const r2 = layer.sendOnFlow(Buffer.from("x"), {
      id: 0,
      transport: "udp",
      remoteAddress: "127.0.0.1",
      remotePort: c.address().port,
      localAddress: "127.0.0.1",
      localPort: port,
    });
    expect(r2).toMatchObject({ ok: true, flow: { localPort: port } });
    expect((await got2)[0].toString()).toBe("x");
  });

  it("send() without a listener of the target's family is refused as no-listener", async () => {
    const { layer } = await udpLayer();
    expect(layer.send(Buffer.from("x"), { transport: "udp", address: "::1", port: 5060 })).toEqual({ ok: false, reason: "no-listener" });
    expect(layer.send(Buffer.from("x"), { transport: "udp", address: "host.example", port: 5060 })).toEqual({ ok: false, reason: "bad-address" });
  });

  it("RFC 5626 §4.4.2: a STUN binding request is answered with XOR-MAPPED-ADDRESS and reported as keepalive", async () => {
    const { delegate, port } = await udpLayer();
    const c = await client();
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt16BE(0, 2);
    req.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
    Buffer.from("a1a2a3a4a5a6a7a8a9aaabac", "hex").copy(req, 8);
    const got = once(c, "message") as Promise<[Buffer]>;
    c.send(req, port, "127.0.0.1");
    const [res] = await got;
    expect(res.readUInt16BE(0)).toBe(0x0101);
    expect(res.subarray(8, 20).equals(req.subarray(8, 20))).toBe(true);
    expect(readXorMappedAddress(res)).toEqual({ family: 4, address: "127.0.0.1", port: c.address().port });
    await delegate.waitFor("keepalive");
    expect(delegate.of("message")).toHaveLength(0);
  });

  it("RFC 5626 §4.4: a CRLF-only datagram is a keepalive, not a message, and is not answered", async () => {
    const { delegate, port } = await udpLayer();
    const c = await client();
    let answered = false;
    c.on("message", () => (answered = true));
    c.send(Buffer.from("\r\n\r\n"), port, "127.0.0.1");
    const ev = await delegate.waitFor("keepalive");
    expect(ev.flow.remotePort).toBe(c.address().port);
    // A message sent afterwards arrives; by then any answer to the ping would have arrived too.
    c.send(sipRequest("after-ping"), port, "127.0.0.1");
    await delegate.waitFor("message");
    expect(delegate.of("message")).toHaveLength(1);
    expect(answered).toBe(false);
  });

  it("drops an oversized datagram as too-large and an empty one as empty", async () => {
    const { layer, delegate, port } = await udpLayer({ maxMessageBytes: 100 });
    const c = await client();
    c.send(Buffer.alloc(101, 0x41), port, "127.0.0.1");
    const ev = await delegate.waitFor("drop", (e) => e.reason === "too-large");
    expect(ev.flow.remotePort).toBe(c.address().port);
    c.send(Buffer.alloc(0), port, "127.0.0.1");
    await delegate.waitFor("drop", (e) => e.reason === "empty");
    expect(delegate.of("message")).toHaveLength(0);
    expect(layer.stats().drops).toBe(2);
  });
});

describe("ipLiteralLookup (dgram's per-send resolver)", () => {
  function resolve(host: string, family: number): Promise<{ sync: boolean; address: string; family: number }> {
    return new Promise((done, fail) => {
      let returned = false;
      ipLiteralLookup(host, family, (err, address, fam) => {
        if (err !== null) fail(err);
        else done({ sync: !returned, address, family: fam });
      });
      returned = true;
    });
  }

  it("answers IPv4 and IPv6 literals synchronously, unchanged (no dns.lookup, no nextTick per datagram)", async () => {
    expect(await resolve("127.0.0.1", 4)).toEqual({ sync: true, address: "127.0.0.1", family: 4 });
    expect(await resolve("::1", 6)).toEqual({ sync: true, address: "::1", family: 6 });
    expect(await resolve("::ffff:192.0.2.1", 6)).toEqual({ sync: true, address: "::ffff:192.0.2.1", family: 6 });
  });

  it("leaves a host name to dns.lookup (asynchronously)", async () => {
    const r = await resolve("localhost", 4);
    expect(r.sync).toBe(false);
    expect(r.family).toBe(4);
    expect(r.address).toMatch(/^127\./);
  });
});
