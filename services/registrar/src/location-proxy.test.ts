/**
 * The location proxy (RFC 3261 §16) against an in-memory fake transport (every send recorded, a
 * virtual clock) and the MemoryBindingStore: no sockets. Upstream is edge A (10.0.0.1:5060), the
 * callee flows sit behind edge B (10.0.0.2:5060), reached through each binding's Path.
 */
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { buildResponse, parseMessage, ServedDomains } from "@edgepath/sip";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { MemoryBindingStore } from "@edgepath/bindings";
import { TransactionLayer } from "@edgepath/transactions";
import type { Scheduler, SendOutcome, SendTarget, TransportSender } from "@edgepath/transactions";
import { LocationProxy } from "./location-proxy.js";
import { sipText } from "./test-support.js";

const SELF = { host: "10.0.0.9", port: 5070 };
const EDGE_A: SendTarget = { transport: "udp", address: "10.0.0.1", port: 5060 };
const EDGE_B = "10.0.0.2:5060";
const NOW = 1_700_000_000_000;

/** A virtual clock: timers fire only inside advance(), in time order. */
class FakeScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers.delete(h as number);
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= until && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = until;
  }
}

interface Wire { readonly target: SendTarget; readonly msg: SipRequest | SipResponse; readonly stateless: boolean }

/** The fake network: records sends; UDP unreliable (RFC 3261 §18). */
class FakeNet implements TransportSender {
  readonly wire: Wire[] = [];
  /** Sends to this address fail as a gone flow would (RFC 3261 §17.1.4). */
  failTo: string | undefined;
  readonly reliable = (t: SendTarget): boolean => t.transport !== "udp";
  send(bytes: Buffer, target: SendTarget): SendOutcome {
    if (target.address === this.failTo) return { ok: false, reason: "flow-gone" };
    return this.record(bytes, target, false);
  }
  record(bytes: Buffer, target: SendTarget, stateless: boolean): SendOutcome {
    const r = parseMessage(bytes);
    if (!r.ok) throw r.error;
    this.wire.push({ target, msg: r.message, stateless });
    return { ok: true };
  }
  /** Responses sent upstream (to edge A), as "status" numbers. */
  upstream(): number[] {
    return this.wire.flatMap((w) => (w.msg.kind === "response" ? [w.msg.status] : []));
  }
  /** Requests sent downstream with `method`. */
  requests(method: string): SipRequest[] {
    return this.wire.flatMap((w) => (w.msg.kind === "request" && w.msg.method === method ? [w.msg] : []));
  }
}

function setup(opts: { timerCMs?: number; store?: MemoryBindingStore; authorize?: (req: SipRequest) => Promise<Buffer | undefined>; realms?: ReadonlySet<string> } = {}) {
  const scheduler = new FakeScheduler();
  const net = new FakeNet();
  const store = opts.store ?? new MemoryBindingStore();
  const transactions = new TransactionLayer({ sender: net, scheduler });
  const proxy = new LocationProxy({
    transactions,
    store,
    domains: new ServedDomains(["example.com"]),
    self: SELF,
    logger: pino({ level: "silent" }),
    sendStateless: (bytes, target) => net.record(bytes, target, true).ok,
    clock: () => NOW,
    scheduler,
    ...(opts.timerCMs !== undefined ? { timerCMs: opts.timerCMs } : {}),
    ...(opts.authorize !== undefined ? { authorize: opts.authorize } : {}),
    ...(opts.realms !== undefined ? { realms: opts.realms } : {}),
  });

  /** A request from edge A, as the worker's socket hands it over. */
  async function receive(text: Buffer, settle = true): Promise<void> {
    const r = parseMessage(text);
    if (!r.ok || r.message.kind !== "request") throw new Error("bad request text");
    const req = r.message;
    const d = transactions.handleRequest(req, EDGE_A);
    if (d.kind === "new") proxy.handleRequest(req, d.tx);
    else if (d.kind === "cancel") proxy.handleCancel(d.tx, d.inviteTx);
    else if (d.kind === "ack-for-2xx") proxy.handleAck(req);
    if (settle) await proxy.settled();
  }

  /** A response from downstream (edge B) to the branch request `req`. */
  function respond(req: SipRequest, status: number, toTag = `t${status}`, headers: Array<[string, string]> = []): void {
    const r = parseMessage(buildResponse(req, status, undefined, { toTag, headers }));
    if (!r.ok || r.message.kind !== "response") throw new Error("bad response");
    if (transactions.handleResponse(r.message).kind === "stray") proxy.handleStrayResponse(r.message);
  }

  let cseq = 0;
  async function bind(user: string, contacts: Array<{ contact: string; q?: number; flowToken?: string; path?: string[] }>): Promise<void> {
    const res = await store.register({
      aor: `sip:${user}@example.com`,
      callId: `reg-${user}`,
      cseq: ++cseq,
      now: NOW,
      removeAll: false,
      maxContacts: 10,
      changes: contacts.map((c, i) => {
        const token = c.flowToken ?? `tok${i}${user}`;
        return {
          key: c.contact,
          expires: 3600,
          binding: { contact: c.contact, q: c.q ?? 1, path: c.path ?? [`<sip:${token}@${EDGE_B};lr>`], edge: EDGE_B, flowToken: token, transport: "udp" },
        };
      }),
    });
    if (!res.ok) throw new Error(res.reason);
  }

  return { scheduler, net, store, transactions, proxy, receive, respond, bind };
}

function request(method: string, user: string, o: { branch?: string; routes?: string[]; maxForwards?: number; extra?: string[] } = {}): Buffer {
  return sipText(`${method} sip:${user}@example.com SIP/2.0`, [
    `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=${o.branch ?? "z9hG4bKedgeA1"}`,
    "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKua1;rport=5062;received=192.0.2.7",
    ...(o.routes ?? []).map((r) => `Route: ${r}`),
    `Max-Forwards: ${o.maxForwards ?? 69}`,
    "From: <sip:alice@example.com>;tag=a1",
    `To: <sip:${user}@example.com>`,
    "Call-ID: call-1@example.com",
    `CSeq: 1 ${method}`,
    "Contact: <sip:alice@192.0.2.7:5062>",
    ...(o.extra ?? []),
  ]);
}

function cancelFor(user: string): Buffer {
  return sipText(`CANCEL sip:${user}@example.com SIP/2.0`, [
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKedgeA1",
    "Max-Forwards: 70",
    "From: <sip:alice@example.com>;tag=a1",
    `To: <sip:${user}@example.com>`,
    "Call-ID: call-1@example.com",
    "CSeq: 1 CANCEL",
  ]);
}

describe("LocationProxy", () => {
  it("DESIGN §2: 404 Not Found for an AOR that never registered (after 100 Trying for INVITE, §16.2)", async () => {
    const t = setup();
    await t.receive(request("INVITE", "nobody"));
    expect(t.net.upstream()).toEqual([100, 404]);
    for (const w of t.net.wire) expect(w.target).toEqual(EDGE_A);
    expect(t.proxy.openContexts).toBe(0);
  });

  it("DESIGN §2: 404 for a MESSAGE to an unknown user, with no 100 Trying (§16.2: only INVITE)", async () => {
    const t = setup();
    await t.receive(request("MESSAGE", "nobody"));
    expect(t.net.upstream()).toEqual([404]);
  });

  it("DESIGN §3: 480 for a known user whose only binding is unreachable, without sending a branch", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060", flowToken: "ftbob" }]);
    expect(await t.store.markUnreachable({ flowToken: "ftbob" }, "flow-failed", NOW)).toEqual(["sip:bob@example.com"]);
    await t.receive(request("MESSAGE", "bob"));
    expect(t.net.upstream()).toEqual([480]);
    expect(t.net.requests("MESSAGE")).toEqual([]);
  });

  it("RFC 3261 §21.5.4: a binding store that is down answers 503 with Retry-After, not 500", async () => {
    class DownStore extends MemoryBindingStore {
      override lookup(): Promise<{ known: boolean; bindings: never[] }> {
        return Promise.reject(Object.assign(new Error("Redis not ready"), { sipStatus: 503, retryAfter: 7 }));
      }
    }
    const t = setup({ store: new DownStore() });
    await t.receive(request("MESSAGE", "bob"));
    expect(t.net.upstream()).toEqual([503]);
    const res = t.net.wire.find((w) => w.msg.kind === "response");
    expect(res?.msg.kind === "response" ? res.msg.headerValues("retry-after") : []).toEqual(["7"]);
    expect(t.proxy.openContexts).toBe(0);
  });

  it("RFC 3261 §16.5: a Request-URI outside our domains is 404, never proxied", async () => {
    const t = setup();
    const text = request("MESSAGE", "bob").toString().replace("MESSAGE sip:bob@example.com", "MESSAGE sip:bob@elsewhere.net");
    await t.receive(Buffer.from(text));
    expect(t.net.upstream()).toEqual([404]);
  });

  it("RFC 3261 §16.3 step 3: Max-Forwards 0 is answered 483", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("MESSAGE", "bob", { maxForwards: 0 }));
    expect(t.net.upstream()).toEqual([483]);
  });

  it("RFC 3261 §16.6 / RFC 3327 §5.3: the branch has R-URI = contact, Route = the binding's Path, Max-Forwards - 1, our Via on top; sent to the Path's edge", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060;transport=tcp", flowToken: "ftbob" }]);
    await t.receive(request("MESSAGE", "bob", { routes: [`<sip:${SELF.host}:${SELF.port};lr>`] }));
    const [m] = t.net.requests("MESSAGE");
    expect(m).toBeDefined();
    expect(m!.uri).toBe("sip:bob@192.0.2.20:5060;transport=tcp");
    // §16.4: our own Route was removed; the Path vector is the whole Route set now.
    expect(m!.headerValues("route")).toEqual([`<sip:ftbob@${EDGE_B};lr>`]);
    expect(m!.maxForwards()).toBe(68);
    const vias = m!.vias();
    expect(vias).toHaveLength(3);
    expect(`${vias[0]!.host}:${vias[0]!.port}`).toBe(`${SELF.host}:${SELF.port}`);
    expect(vias[0]!.branch).toMatch(/^z9hG4bK/);
    expect(t.net.wire.find((w) => w.msg === m)!.target).toEqual({ transport: "udp", address: "10.0.0.2", port: 5060 });
    // The 200 comes back with our Via removed (§16.7 step 9).
    t.respond(m!, 200);
    const ok = t.net.wire.at(-1)!.msg as SipResponse;
    expect(ok.status).toBe(200);
    expect(ok.vias()).toHaveLength(2);
    expect(ok.topVia().branch).toBe("z9hG4bKedgeA1");
  });

  it("RFC 3261 §16.6 / RFC 3261 §16.2: bindings of equal q are forked in parallel; for non-INVITE only the first 200 goes upstream", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("MESSAGE", "bob"));
    const branches = t.net.requests("MESSAGE");
    expect(branches.map((b) => b.uri).sort()).toEqual(["sip:bob@192.0.2.20:5060", "sip:bob@192.0.2.21:5060"]);
    expect(new Set(branches.map((b) => b.topVia().branch)).size).toBe(2);
    t.respond(branches[1]!, 200);
    t.respond(branches[0]!, 200);
    expect(t.net.upstream()).toEqual([200]);
    // No CANCEL for non-INVITE (§9.1 / §16.10 only cancel INVITE).
    expect(t.net.requests("CANCEL")).toEqual([]);
  });

  it("RFC 3261 §16.6 with q-values: a lower q level is tried only after every branch of the higher one failed", async () => {
    const t = setup();
    await t.bind("bob", [
      { contact: "sip:bob@192.0.2.30:5060", q: 0.5 },
      { contact: "sip:bob@192.0.2.20:5060", q: 1 },
      { contact: "sip:bob@192.0.2.21:5060", q: 1 },
    ]);
    await t.receive(request("INVITE", "bob"));
    let invites = t.net.requests("INVITE");
    expect(invites.map((i) => i.uri).sort()).toEqual(["sip:bob@192.0.2.20:5060", "sip:bob@192.0.2.21:5060"]);
    t.respond(invites[0]!, 486);
    expect(t.net.requests("INVITE")).toHaveLength(2);
    t.respond(invites[1]!, 404);
    invites = t.net.requests("INVITE");
    expect(invites).toHaveLength(3);
    expect(invites[2]!.uri).toBe("sip:bob@192.0.2.30:5060");
    t.respond(invites[2]!, 180);
    t.respond(invites[2]!, 200);
    expect(t.net.upstream()).toEqual([100, 180, 200]);
    // Each non-2xx final was ACKed hop by hop by its client transaction (§17.1.1.3).
    expect(t.net.requests("ACK")).toHaveLength(2);
  });

  it("RFC 3261 §16.7 step 6: with no 2xx and no 6xx the lowest class wins (3xx before 4xx before 5xx)", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }, { contact: "sip:bob@192.0.2.22:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a, b, c] = t.net.requests("INVITE");
    t.respond(a!, 500);
    t.respond(b!, 486);
    expect(t.net.upstream()).toEqual([100]);
    t.respond(c!, 302, "t302", [["Contact", "<sip:bob@192.0.2.99>"]]);
    expect(t.net.upstream()).toEqual([100, 302]);
  });

  it("RFC 3261 §16.7 step 6: a 4xx beats a 5xx even when the 5xx came first", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("MESSAGE", "bob"));
    const [a, b] = t.net.requests("MESSAGE");
    t.respond(a!, 500);
    t.respond(b!, 404);
    expect(t.net.upstream()).toEqual([404]);
  });

  it("RFC 3261 §16.7 steps 6 and 10: a 6xx cancels the other pending INVITE branches and is the answer", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a, b] = t.net.requests("INVITE");
    t.respond(a!, 180);
    t.respond(b!, 180);
    t.respond(a!, 603);
    const cancels = t.net.requests("CANCEL");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]!.topVia().branch).toBe(b!.topVia().branch); // §9.1: same top Via as the INVITE
    expect(cancels[0]!.headerValues("route")).toEqual(b!.headerValues("route"));
    expect(t.net.upstream()).toEqual([100, 180, 180]);
    t.respond(cancels[0]!, 200);
    t.respond(b!, 487);
    expect(t.net.upstream()).toEqual([100, 180, 180, 603]);
  });

  it("RFC 3261 §16.7 step 10: the first 2xx to INVITE goes upstream at once and the other branches are CANCELled with Reason (RFC 3326)", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a, b] = t.net.requests("INVITE");
    t.respond(a!, 180);
    t.respond(b!, 200);
    expect(t.net.upstream()).toEqual([100, 180, 200]);
    const cancels = t.net.requests("CANCEL");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]!.uri).toBe(a!.uri);
    expect(cancels[0]!.header("reason")).toMatch(/cause=200/);
    t.respond(a!, 487);
    // The 487 is not forwarded: the 2xx was the answer.
    expect(t.net.upstream()).toEqual([100, 180, 200]);
    expect(t.proxy.openContexts).toBe(0);
  });

  it("RFC 6026 §8.4: a 2xx from a second fork is forwarded upstream too", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a, b] = t.net.requests("INVITE");
    t.respond(a!, 200, "fork-a");
    t.respond(b!, 200, "fork-b");
    expect(t.net.upstream()).toEqual([100, 200, 200]);
  });

  it("RFC 3261 §9.1 / §16.10: upstream CANCEL gets 200, pending branches are CANCELled (after their 1xx), the 487 goes upstream", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a, b] = t.net.requests("INVITE");
    t.respond(a!, 180);
    await t.receive(cancelFor("bob"));
    const cancelOk = t.net.wire.find((w) => w.msg.kind === "response" && w.msg.status === 200 && w.msg.cseq().method === "CANCEL");
    expect(cancelOk).toBeDefined();
    expect((cancelOk!.msg as SipResponse).toTag()).toMatch(/.+/); // §8.2.6.2
    // Branch a had a provisional: CANCEL now. Branch b had none: §9.1 forbids it until a 1xx arrives.
    expect(t.net.requests("CANCEL").map((c) => c.uri)).toEqual([a!.uri]);
    t.respond(b!, 100);
    expect(t.net.requests("CANCEL").map((c) => c.uri)).toEqual([a!.uri, b!.uri]);
    t.respond(a!, 487);
    t.respond(b!, 487);
    const finals = t.net.wire.flatMap((w) => (w.msg.kind === "response" && w.msg.cseq().method === "INVITE" && w.msg.status >= 200 ? [w.msg.status] : []));
    expect(finals).toEqual([487]);
  });

  it("RFC 3261 §16.10: a CANCEL for an INVITE already answered is 200 but changes nothing", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a] = t.net.requests("INVITE");
    t.respond(a!, 200);
    await t.receive(cancelFor("bob"));
    expect(t.net.requests("CANCEL")).toEqual([]);
  });

  it("RFC 5626 §5.3 / DESIGN §3: a 430 from the edge marks the binding's flow unreachable and the caller gets 480", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060", flowToken: "ftgone" }]);
    await t.receive(request("MESSAGE", "bob"));
    const [m] = t.net.requests("MESSAGE");
    t.respond(m!, 430);
    expect(t.net.upstream()).toEqual([480]);
    await t.proxy.settled();
    const { bindings } = await t.store.lookup("sip:bob@example.com", NOW);
    expect(bindings[0]!.reachable).toBe(false);
    expect(bindings[0]!.reason).toBe("flow-failed");
  });

  it("RFC 5626 §5.3: a 430 on one fork is not the answer when another fork answers", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    await t.receive(request("MESSAGE", "bob"));
    const [a, b] = t.net.requests("MESSAGE");
    t.respond(a!, 430);
    t.respond(b!, 486);
    expect(t.net.upstream()).toEqual([486]);
  });

  it("RFC 3261 §16.8: a branch with no response ends in 408 when Timer F fires", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("MESSAGE", "bob"));
    t.scheduler.advance(31_999);
    expect(t.net.upstream()).toEqual([]);
    expect(t.net.requests("MESSAGE").length).toBeGreaterThan(1); // Timer E retransmissions over UDP
    t.scheduler.advance(1);
    expect(t.net.upstream()).toEqual([408]);
  });

  it("RFC 3261 §16.6 step 11 / §16.8: Timer C on a ringing INVITE branch sends CANCEL; the 487 answers the caller", async () => {
    const t = setup({ timerCMs: 181_000 });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("INVITE", "bob"));
    const [a] = t.net.requests("INVITE");
    t.respond(a!, 180);
    t.scheduler.advance(120_000);
    t.respond(a!, 183); // a provisional resets Timer C (§16.7 step 2)
    t.scheduler.advance(180_000);
    expect(t.net.requests("CANCEL")).toEqual([]);
    t.scheduler.advance(1_000);
    expect(t.net.requests("CANCEL")).toHaveLength(1);
    t.respond(a!, 487);
    expect(t.net.upstream()).toEqual([100, 180, 183, 487]);
  });

  it("RFC 3261 §16.11: an ACK for a 2xx with a Route set past us is forwarded statelessly; without one it is dropped", async () => {
    const t = setup();
    const ack = sipText(`ACK sip:bob@192.0.2.20:5060 SIP/2.0`, [
      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack1",
      `Route: <sip:${SELF.host}:${SELF.port};lr>`,
      `Route: <sip:ftbob@${EDGE_B};lr>`,
      "Max-Forwards: 70",
      "From: <sip:alice@example.com>;tag=a1",
      "To: <sip:bob@example.com>;tag=b1",
      "Call-ID: call-9@example.com",
      "CSeq: 1 ACK",
    ]);
    await t.receive(ack);
    expect(t.proxy.stats.acksForwarded).toBe(1);
    const fwd = t.net.wire[0]!;
    expect(fwd.stateless).toBe(true);
    expect(fwd.target).toEqual({ transport: "udp", address: "10.0.0.2", port: 5060 });
    expect((fwd.msg as SipRequest).headerValues("route")).toEqual([`<sip:ftbob@${EDGE_B};lr>`]);
    await t.receive(Buffer.from(ack.toString().replace(/Route: .*\r\n/g, "").replace("z9hG4bKack1", "z9hG4bKack2")));
    expect(t.proxy.stats.acksDropped).toBe(1);
  });

  it("RFC 3261 §19.1.4: the Request-URI host compares case-insensitively (EXAMPLE.COM is ours)", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(Buffer.from(request("MESSAGE", "bob").toString().replace("MESSAGE sip:bob@example.com", "MESSAGE sip:bob@EXAMPLE.COM")));
    expect(t.net.requests("MESSAGE")).toHaveLength(1);
  });

  it("RFC 3261 §16.10: a CANCEL that arrives while the location lookup is still running ends the INVITE with 487 and no branch", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => { release = r; });
    class SlowStore extends MemoryBindingStore {
      override async lookup(aor: string, now: number): ReturnType<MemoryBindingStore["lookup"]> {
        await gate;
        return super.lookup(aor, now);
      }
    }
    const t = setup({ store: new SlowStore() });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("INVITE", "bob"), false);
    await t.receive(cancelFor("bob"), false);
    release();
    await t.proxy.settled();
    expect(t.net.requests("INVITE")).toEqual([]);
    const statuses = t.net.wire.flatMap((w) => (w.msg.kind === "response" ? [`${w.msg.status} ${w.msg.cseq().method}`] : []));
    expect(statuses).toEqual(["100 INVITE", "200 CANCEL", "487 INVITE"]);
  });

  it("DESIGN §6 / RFC 3261 §22.3: the authorize hook's refusal (407) is the answer and nothing is looked up", async () => {
    const t = setup({
      authorize: (req) => Promise.resolve(buildResponse(req, 407, "Proxy Authentication Required", { toTag: "x", headers: [["Proxy-Authenticate", 'Digest realm="example.com", nonce="n"']] })),
    });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("MESSAGE", "bob"));
    expect(t.net.upstream()).toEqual([407]);
    expect((t.net.wire[0]!.msg as SipResponse).header("proxy-authenticate")).toContain("Digest");
    expect(t.net.requests("MESSAGE")).toEqual([]);
  });

  it("RFC 3261 §22.3: Proxy-Authorization for our realm is consumed (not forwarded to the callee); another realm's is kept", async () => {
    let authorized = 0;
    const t = setup({
      authorize: () => {
        authorized++;
        return Promise.resolve(undefined);
      },
    });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }, { contact: "sip:bob@192.0.2.21:5060" }]);
    const ours = 'Digest username="alice", realm="EXAMPLE.com", nonce="n1", uri="sip:bob@example.com", response="0123", qop=auth, nc=00000001, cnonce="c"';
    const theirs = 'Digest username="alice", realm="carrier.net", nonce="n2", uri="sip:bob@example.com", response="4567"';
    await t.receive(request("INVITE", "bob", { extra: [`Proxy-Authorization: ${theirs}`, `Proxy-Authorization: ${ours}`] }));
    expect(authorized).toBe(1);
    const branches = t.net.requests("INVITE");
    expect(branches).toHaveLength(2);
    for (const b of branches) {
      // Every fork: our realm's credentials gone, the foreign realm's untouched, in order.
      expect(b.headerValues("proxy-authorization")).toEqual([theirs]);
      expect(b.toBuffer().toString("latin1")).not.toContain('nonce="n1"');
    }
    // The CANCEL of a losing fork is built from the stripped branch, so it carries none either.
    t.respond(branches[0]!, 180);
    t.respond(branches[1]!, 180);
    t.respond(branches[0]!, 200);
    const [cancel] = t.net.requests("CANCEL");
    expect(cancel).toBeDefined();
    expect(cancel!.headerValues("proxy-authorization")).toEqual([]);
  });

  it("RFC 3261 §22.3: a configured realm is consumed too; with `realms` set, a domain that is not a realm keeps its credentials", async () => {
    const t = setup({ realms: new Set(["voip"]) });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    await t.receive(request("MESSAGE", "bob", { extra: ['Proxy-Authorization: Digest username="alice", realm="voip", nonce="n", uri="sip:bob@example.com", response="1"'] }));
    const [m] = t.net.requests("MESSAGE");
    expect(m!.hasHeader("proxy-authorization")).toBe(false);
    const t2 = setup({ realms: new Set(["voip"]) });
    await t2.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    const foreign = 'Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@example.com", response="1"';
    await t2.receive(request("MESSAGE", "bob", { extra: [`Proxy-Authorization: ${foreign}`] }));
    // "example.com" is a domain but not a consumed realm once `realms` is configured.
    expect(t2.net.requests("MESSAGE")[0]!.headerValues("proxy-authorization")).toEqual([foreign]);
  });

  it("RFC 3261 §16.9: a transport failure on the only branch counts as 503 and the caller gets 480, not 503", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060" }]);
    t.net.failTo = "10.0.0.2";
    await t.receive(request("MESSAGE", "bob"));
    // The failed branch never reached the wire; only the final went upstream.
    expect(t.net.requests("MESSAGE")).toEqual([]);
    expect(t.net.upstream()).toEqual([480]);
    expect(t.proxy.stats.branches).toBe(1);
  });

  it("RFC 3261 §16.6 step 7: a binding whose Path names a hostname (no RFC 3263 in workers) is skipped; with nothing else, 480", async () => {
    const t = setup();
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060", path: ["<sip:edge.example.net;lr>"] }]);
    await t.receive(request("MESSAGE", "bob"));
    expect(t.net.upstream()).toEqual([480]);
    expect(t.net.requests("MESSAGE")).toEqual([]);
  });

  it("RFC 3261 §16.8: Timer C on an INVITE branch with no provisional ends it as a timeout (408)", async () => {
    const t = setup({ timerCMs: 10_000 });
    await t.bind("bob", [{ contact: "sip:bob@192.0.2.20:5060;transport=tcp", path: [] }]);
    await t.receive(request("INVITE", "bob"));
    expect(t.net.requests("INVITE")).toHaveLength(1);
    t.scheduler.advance(10_000);
    expect(t.net.upstream()).toEqual([100, 408]);
    expect(t.proxy.openContexts).toBe(0);
  });

  it("RFC 3261 §16.6 / §16.9: a branch whose first send fails at once does not end the search while its siblings are still being started", async () => {
    const t = setup();
    await t.bind("bob", [
      { contact: "sip:bob@192.0.2.20:5060", path: ["<sip:tokA@10.0.0.3:5060;lr>"] },
      { contact: "sip:bob@192.0.2.21:5060" },
      { contact: "sip:bob@192.0.2.30:5060", q: 0.1 },
    ]);
    t.net.failTo = "10.0.0.3";
    await t.receive(request("INVITE", "bob"));
    const invites = t.net.requests("INVITE");
    // Only the healthy sibling of the q=1 level is on the wire; the q=0.1 level waits.
    expect(invites.map((i) => i.uri)).toEqual(["sip:bob@192.0.2.21:5060"]);
    expect(t.net.upstream()).toEqual([100]);
    t.respond(invites[0]!, 200);
    expect(t.net.upstream()).toEqual([100, 200]);
  });
});
