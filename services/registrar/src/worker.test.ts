/**
 * The worker over a real loopback UDP socket (its internal transport), with the memory store, the
 * in-process bus and two plain dgram sockets playing the edges: edge A (where requests come from)
 * and edge B (the edge named in the binding's Path, holding the callee's flow).
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { MemoryBindingStore } from "@edgepath/bindings";
import { InProcessBus, monotonicEpochMs, Subjects } from "@edgepath/cluster";
import type { BusMessage, MemberHeartbeat } from "@edgepath/cluster";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { parseMessage } from "@edgepath/sip";
import type { SipMessage } from "@edgepath/sip";
import { RegistrarWorker, type RegistrarWorkerOptions } from "./worker.js";
import { sipText } from "./test-support.js";

/** A UDP peer that queues what it receives. */
class Peer {
  readonly received: SipMessage[] = [];
  readonly #waiters: Array<{ filter: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }> = [];
  private constructor(readonly socket: Socket, readonly port: number) {
    socket.on("message", (buf) => {
      const r = parseMessage(buf);
      if (!r.ok) return;
      const i = this.#waiters.findIndex((w) => w.filter(r.message));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(r.message);
      else this.received.push(r.message);
    });
  }
  static async create(): Promise<Peer> {
    const s = createSocket("udp4");
    await new Promise<void>((res) => s.bind(0, "127.0.0.1", () => res()));
    return new Peer(s, s.address().port);
  }
  send(text: Buffer | string, port: number): void {
    this.socket.send(typeof text === "string" ? Buffer.from(text) : text, port, "127.0.0.1");
  }
  next(filter: (m: SipMessage) => boolean, timeoutMs = 5000): Promise<SipMessage> {
    const i = this.received.findIndex(filter);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { filter, resolve: (m: SipMessage) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }
  close(): Promise<void> {
    return new Promise((res) => this.socket.close(() => res()));
  }
}

const SECRET = "worker-test-secret-0123456789abcdef";
const codec = new FlowTokenCodec(SECRET);
const status = (code: number, method: string) => (m: SipMessage): boolean => m.kind === "response" && m.status === code && m.cseq().method === method;

let store: MemoryBindingStore;
let bus: InProcessBus;
let worker: RegistrarWorker;
let edgeA: Peer;
let edgeB: Peer;
let workerPort: number;
let seq = 0;

beforeEach(async () => {
  store = new MemoryBindingStore();
  bus = new InProcessBus();
  edgeA = await Peer.create();
  edgeB = await Peer.create();
  worker = new RegistrarWorker({
    id: "w1",
    listen: { host: "127.0.0.1", port: 0 },
    domains: ["example.com"],
    store,
    bus,
    flowTokens: codec,
    logger: pino({ level: "silent" }),
    settings: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, maxContacts: 10 },
    heartbeatMs: 50,
  });
  const { sipAddress } = await worker.start();
  workerPort = Number(sipAddress.split(":").at(-1));
});

afterEach(async () => {
  await worker.stop({ graceful: false });
  await edgeA.close();
  await edgeB.close();
});

/** A flow token for a UA at 127.0.0.1:`uaPort` behind edge B. */
function token(uaPort: number, transport: "udp" | "tcp" = "udp"): string {
  return codec.encode({ transport, localAddress: "127.0.0.1", localPort: 5060, remoteAddress: "127.0.0.1", remotePort: uaPort, connectionId: transport === "udp" ? 0 : 7 });
}

function viaFromEdge(edge: Peer): string {
  return `Via: SIP/2.0/UDP 127.0.0.1:${edge.port};branch=z9hG4bKep${++seq}x`;
}

async function registerBob(ft: string): Promise<void> {
  edgeB.send(sipText("REGISTER sip:example.com SIP/2.0", [
    viaFromEdge(edgeB),
    "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKua;rport=40000;received=127.0.0.1",
    `Path: <sip:${ft}@127.0.0.1:${edgeB.port};lr>`,
    "Max-Forwards: 69",
    "From: <sip:bob@example.com>;tag=r1",
    "To: <sip:bob@example.com>",
    `Call-ID: reg-${seq}@test`,
    "CSeq: 1 REGISTER",
    "Contact: <sip:bob@127.0.0.1:40000>",
    "Expires: 600",
  ]), workerPort);
  await edgeB.next(status(200, "REGISTER"));
}

function message(user: string): Buffer {
  return sipText(`MESSAGE sip:${user}@example.com SIP/2.0`, [
    viaFromEdge(edgeA),
    "Via: SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bKalice;rport=41000;received=127.0.0.1",
    "Max-Forwards: 69",
    "From: <sip:alice@example.com>;tag=a1",
    `To: <sip:${user}@example.com>`,
    `Call-ID: msg-${seq}@test`,
    "CSeq: 1 MESSAGE",
    "Content-Type: text/plain",
  ], "hi");
}

describe("RegistrarWorker", () => {
  it("DESIGN §4: heartbeats on the bus advertise the worker's internal SIP address", async () => {
    const beat = await new Promise<MemberHeartbeat>((resolve) => {
      const sub = bus.subscribe(Subjects.workerHeartbeat, (m: BusMessage) => {
        sub.unsubscribe();
        resolve(m.json<MemberHeartbeat>());
      });
    });
    expect(beat.id).toBe("w1");
    expect(beat.role).toBe("worker");
    expect(beat.sipAddress).toBe(`127.0.0.1:${workerPort}`);
  });

  it("RFC 3261 §10.3 / DESIGN §2: REGISTER is answered 200 back to the sending edge and publishes binding-changed", async () => {
    const changed = new Promise<string>((resolve) => bus.subscribe(Subjects.bindingChanged, (m) => resolve(m.json<{ aor: string }>().aor)));
    await registerBob(token(40000));
    expect(await changed).toBe("sip:bob@example.com");
    const { bindings } = await store.lookup("sip:bob@example.com", Date.now());
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!.edge).toBe(`127.0.0.1:${edgeB.port}`);
    expect(worker.stats.registers).toBe(1);
  });

  it("a pure refresh (same contact, Path and flow, later expiry) publishes no binding-changed; a new contact does", async () => {
    const seen: string[] = [];
    const sub = bus.subscribe(Subjects.bindingChanged, (m) => seen.push(m.json<{ aor: string }>().aor));
    const sentinel = async (tag: string): Promise<void> => {
      // Ordered delivery: once our own marker arrives, anything the worker published before it has too.
      const arrived = new Promise<void>((resolve) => {
        const s = bus.subscribe(Subjects.bindingChanged, (m) => {
          if (m.json<{ aor: string }>().aor === tag) {
            s.unsubscribe();
            resolve();
          }
        });
      });
      bus.publish(Subjects.bindingChanged, { aor: tag, by: "test" });
      await arrived;
    };
    try {
      const ft = token(40000);
      await registerBob(ft);
      await sentinel("mark-1");
      expect(seen.filter((a) => a === "sip:bob@example.com")).toHaveLength(1);
      await registerBob(ft); // refresh: same Contact, same Path/flow
      await sentinel("mark-2");
      expect(seen.filter((a) => a === "sip:bob@example.com")).toHaveLength(1);
      await registerBob(token(40002)); // same Contact through another flow: routing changed
      await sentinel("mark-3");
      expect(seen.filter((a) => a === "sip:bob@example.com")).toHaveLength(2);
    } finally {
      sub.unsubscribe();
    }
  });

  it("DESIGN §3: edge-up restores the UDP bindings an edge-down took; malformed events are ignored", async () => {
    await registerBob(token(40000));
    const edge = `127.0.0.1:${edgeB.port}`;
    bus.publish(Subjects.edgeDown, { edge, at: Date.now() });
    const reach = async (): Promise<boolean | undefined> => (await store.lookup("sip:bob@example.com", Date.now())).bindings[0]?.reachable;
    const settle = async (want: boolean): Promise<void> => {
      for (let i = 0; i < 200 && (await reach()) !== want; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await reach()).toBe(want);
    };
    await settle(false);
    bus.publish(Subjects.edgeUp, "null");
    bus.publish(Subjects.edgeUp, { edge, startedAt: "soon" });
    bus.publish(Subjects.edgeUp, { edge, startedAt: Date.now(), at: Date.now() });
    await settle(true);
  });

  it("RFC 3261 §16 / RFC 3327: a MESSAGE goes to the edge in the Path with Route = Path; the 200 returns to edge A", async () => {
    const ft = token(40000);
    await registerBob(ft);
    edgeA.send(message("bob"), workerPort);
    const branch = await edgeB.next((m) => m.kind === "request" && m.method === "MESSAGE");
    if (branch.kind !== "request") throw new Error("unreachable");
    expect(branch.uri).toBe("sip:bob@127.0.0.1:40000");
    expect(branch.headerValues("route")).toEqual([`<sip:${ft}@127.0.0.1:${edgeB.port};lr>`]);
    expect(branch.topVia().port).toBe(workerPort);
    // Edge B relays the callee's 200 back to the worker.
    const r = parseMessage(Buffer.from(
      `SIP/2.0 200 OK\r\n${branch.headerValues("via").map((v) => `Via: ${v}`).join("\r\n")}\r\nFrom: ${branch.header("from")}\r\nTo: ${branch.header("to")};tag=b1\r\nCall-ID: ${branch.callId}\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n`,
    ));
    if (!r.ok) throw r.error;
    edgeB.send(r.message.toBuffer(), workerPort);
    const ok = await edgeA.next(status(200, "MESSAGE"));
    expect(ok.topVia().port).toBe(edgeA.port);
    expect(ok.vias()).toHaveLength(2);
  });

  it("DESIGN §3: a flow-failed event marks that flow's bindings unreachable and the next MESSAGE is 480 at once", async () => {
    const ft = token(40001, "tcp");
    await registerBob(ft);
    bus.publish(Subjects.flowFailed, { flowToken: ft, edge: `127.0.0.1:${edgeB.port}`, reason: "closed", at: Date.now() });
    await waitUntil(async () => (await store.lookup("sip:bob@example.com", Date.now())).bindings[0]?.reachable === false);
    const { bindings } = await store.lookup("sip:bob@example.com", Date.now());
    expect(bindings[0]!.reason).toMatch(/^flow-failed/);
    expect(worker.stats.markedUnreachable).toBe(1);
    edgeA.send(message("bob"), workerPort);
    await edgeA.next(status(480, "MESSAGE"));
    expect(edgeB.received.filter((m) => m.kind === "request" && m.method === "MESSAGE")).toEqual([]);
  });

  it("DESIGN §3: an edge-down event makes every binding whose Path starts at that edge unreachable", async () => {
    await registerBob(token(40002));
    bus.publish(Subjects.edgeDown, { edge: `127.0.0.1:${edgeB.port}`, at: Date.now() });
    await waitUntil(async () => (await store.lookup("sip:bob@example.com", Date.now())).bindings[0]?.reachable === false);
    expect((await store.lookup("sip:bob@example.com", Date.now())).bindings[0]!.reason).toBe("edge-down");
  });

  it("DESIGN §2: 404 for an unknown user; a CANCEL matching nothing is 481 (§9.2); garbage is counted, not fatal", async () => {
    edgeA.send(message("nobody"), workerPort);
    await edgeA.next(status(404, "MESSAGE"));
    edgeA.send(sipText("CANCEL sip:nobody@example.com SIP/2.0", [
      viaFromEdge(edgeA), "Max-Forwards: 70", "From: <sip:alice@example.com>;tag=a1", "To: <sip:nobody@example.com>",
      "Call-ID: stray@test", "CSeq: 1 CANCEL",
    ]), workerPort);
    await edgeA.next(status(481, "CANCEL"));
    edgeA.send("this is not SIP\r\n\r\n", workerPort);
    await waitUntil(() => worker.stats.unparsable === 1);
    // Still serving.
    edgeA.send(message("nobody2"), workerPort);
    await edgeA.next(status(404, "MESSAGE"));
  });

  it("RFC 3261 §17.2.2: a request whose bad header only shows in the proxy is answered 400 through its transaction (retransmissions get the 400 too)", async () => {
    const text = message("bob").toString().replace("Max-Forwards: 69\r\n", "Max-Forwards: 69\r\nRoute: <sip:broken\r\n");
    edgeA.send(text, workerPort);
    const first = await edgeA.next(status(400, "MESSAGE"));
    expect(first.kind === "response" ? first.reason : "").toMatch(/Route/);
    // The same request again is a retransmission: the server transaction (Completed) repeats its final.
    edgeA.send(text, workerPort);
    const again = await edgeA.next(status(400, "MESSAGE"));
    expect(again.toBuffer().equals(first.toBuffer())).toBe(true);
  });

  it("DESIGN §5: a graceful stop announces draining and leaves the ring", async () => {
    const draining = new Promise<MemberHeartbeat>((resolve) => bus.subscribe(Subjects.workerHeartbeat, (m) => {
      const hb = m.json<MemberHeartbeat>();
      if (hb.draining === true) resolve(hb);
    }));
    const left = new Promise<string>((resolve) => bus.subscribe(Subjects.memberLeave, (m) => resolve(m.json<{ id: string }>().id)));
    await worker.stop({ graceful: true });
    expect((await draining).id).toBe("w1");
    expect(await left).toBe("w1");
    expect(worker.draining).toBe(true);
  });
});

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A second worker with its own store and bus and `extra` options; returns it and its port. */
async function extraWorker(id: string, extra: Partial<RegistrarWorkerOptions>): Promise<[RegistrarWorker, number]> {
  const w = new RegistrarWorker({
    id,
    listen: { host: "127.0.0.1", port: 0 },
    domains: ["example.com"],
    store: new MemoryBindingStore(),
    bus: new InProcessBus(),
    flowTokens: codec,
    logger: pino({ level: "silent" }),
    settings: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, maxContacts: 10 },
    heartbeatMs: 50,
    ...extra,
  });
  const { sipAddress } = await w.start();
  return [w, Number(sipAddress.split(":").at(-1))];
}

describe("RegistrarWorker onProxyFinal", () => {
  it("times the first final response of each proxied request through its server transaction; REGISTER is not counted there", async () => {
    const finals: Array<[string, number]> = [];
    const [timed, port] = await extraWorker("w2", {
      onProxyFinal: (method, status, elapsedMs) => {
        expect(elapsedMs).toBeGreaterThanOrEqual(0);
        finals.push([method, status]);
      },
    });
    try {
      const msg = message("nobody");
      edgeA.send(msg, port);
      await edgeA.next(status(404, "MESSAGE"));
      edgeA.send(msg, port); // RFC 3261 §17.2.2: the retransmission gets the 404 again, and is not timed again
      await edgeA.next(status(404, "MESSAGE"));
      expect(finals).toEqual([["MESSAGE", 404]]);
    } finally {
      await timed.stop({ graceful: false });
    }
  });
});

describe("RegistrarWorker overload control (overload.ts)", () => {
  /** A clock id as an edge process draws one (@edgepath/cluster edgeSentAtValue). */
  const clock = "0a1b2c3d";
  /** A REGISTER from edge A stamped as sent at `sentAt` (the edge's monotonic clock, ms). */
  function registerSentAt(user: string, sentAt: number, extra: readonly string[] = []): Buffer {
    return sipText("REGISTER sip:example.com SIP/2.0", [
      `Via: SIP/2.0/UDP 127.0.0.1:${edgeA.port};branch=z9hG4bKep${++seq}x`,
      "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKua;rport=40000;received=127.0.0.1",
      `Path: <sip:${token(40000)}@127.0.0.1:${edgeA.port};lr>`,
      "Max-Forwards: 69",
      `From: <sip:${user}@example.com>;tag=r${seq}`,
      `To: <sip:${user}@example.com>`,
      `X-Edgepath-Sent-At: ${clock}.${sentAt}`,
      ...extra,
      `Call-ID: ov-${seq}@test`,
      "CSeq: 1 REGISTER",
      `Contact: <sip:${user}@127.0.0.1:40000>`,
      "Expires: 600",
    ]);
  }
  const now = (): number => monotonicEpochMs();

  it("RFC 3261 §16.7 step 6, §21.5.1: a new request that queued past the target gets 500 + Retry-After at once (not 503, which would stop a client using the whole edge), binds nothing, and its retransmission gets the same answer; on-time requests are served", async () => {
    // A target well above any stall a loaded CI machine has between send and receive, and a
    // request far past it: the verdicts cannot flip on timing.
    const own = new MemoryBindingStore();
    const [guarded, port] = await extraWorker("w4", { queueDelayTargetMs: 1_000, store: own });
    try {
      // The edge's clock is 60 s behind ours: the guard must learn that offset, not call it a queue.
      const skew = -60_000;
      edgeA.send(registerSentAt("carol", now() + skew), port);
      await edgeA.next(status(200, "REGISTER"));

      const stale = registerSentAt("dave", now() + skew - 5_000); // waited 5 s on the way
      edgeA.send(stale, port);
      const refused = await edgeA.next(status(500, "REGISTER"));
      expect(refused.kind === "response" && refused.reason).toBe("Server Overloaded");
      expect(Number(refused.header("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.header("retry-after"))).toBeLessThanOrEqual(5);
      expect(refused.toTag()).toBeDefined();
      expect(guarded.stats.overloadShed).toBe(1);
      expect((await own.lookup("sip:dave@example.com", Date.now())).bindings).toHaveLength(0);
      // RFC 3261 §17.2.2: the server transaction answers the retransmission; it is not shed twice
      edgeA.send(stale, port);
      await edgeA.next(status(500, "REGISTER"));
      expect(guarded.stats.overloadShed).toBe(1);

      // on time again (the UA's next attempt): served
      edgeA.send(registerSentAt("dave", now() + skew), port);
      await edgeA.next(status(200, "REGISTER"));
      expect((await own.lookup("sip:dave@example.com", Date.now())).bindings).toHaveLength(1);

      // a restarted edge process (new clock id) whose clock started 5 s behind gets a baseline of
      // its own: the same stamp under the old id would have been shed (as dave's was)
      const restarted = registerSentAt("gina", now() + skew - 5_000).toString("latin1").replace(`${clock}.`, "ffffffff.");
      edgeA.send(Buffer.from(restarted, "latin1"), port);
      await edgeA.next(status(200, "REGISTER"));
      // without a stamp (or with a malformed one) nothing is measured and the request is served
      edgeA.send(Buffer.from(registerSentAt("hank", 1).toString("latin1").replace(`${clock}.1`, "garbage"), "latin1"), port);
      await edgeA.next(status(200, "REGISTER"));
      expect(guarded.stats.overloadShed).toBe(1);
    } finally {
      await guarded.stop({ graceful: false });
    }
  });

  it("in-dialog requests (To tag) are never shed: they finish work already accepted", async () => {
    edgeA.send(registerSentAt("erin", now()), workerPort);
    await edgeA.next(status(200, "REGISTER"));
    // a late BYE in a dialog the worker does not know: the proxy's own answer, not the overload 500
    edgeA.send(sipText("BYE sip:erin@127.0.0.1:40000 SIP/2.0", [
      `Via: SIP/2.0/UDP 127.0.0.1:${edgeA.port};branch=z9hG4bKep${++seq}x`,
      "Via: SIP/2.0/UDP 127.0.0.1:41000;branch=z9hG4bKbye;rport=41000;received=127.0.0.1",
      "Max-Forwards: 69",
      "From: <sip:alice@example.com>;tag=a1",
      "To: <sip:erin@example.com>;tag=b1",
      `X-Edgepath-Sent-At: ${clock}.${now() - 5_000}`,
      `Call-ID: bye-${seq}@test`,
      "CSeq: 2 BYE",
    ]), workerPort);
    const answer = await edgeA.next((m) => m.kind === "response" && m.cseq().method === "BYE");
    expect(answer.kind === "response" && answer.status).not.toBe(500);
    expect(worker.stats.overloadShed).toBe(0);
  });

  it("target 0 turns it off: the stale request is served", async () => {
    const [off, port] = await extraWorker("w3", { queueDelayTargetMs: 0 });
    try {
      edgeA.send(registerSentAt("frank", now()), port);
      await edgeA.next(status(200, "REGISTER"));
      edgeA.send(registerSentAt("frank", now() - 3_000), port);
      await edgeA.next(status(200, "REGISTER"));
      expect(off.stats.overloadShed).toBe(0);
    } finally {
      await off.stop({ graceful: false });
    }
  });
});
