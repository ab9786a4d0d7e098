/**
 * The cluster as separate processes (DESIGN §4, issue 4): real redis-server and nats-server,
 * `edgepath edge` x2 and `edgepath registrar` x3 spawned from dist, UAs on real sockets.
 * Tests run in order on one cluster: failover, Redis restart, flow failure and edge loss
 * each change it for the tests after.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText, startNats, startRedis, TestUa, waitFor,
  type NatsServer, type RedisServer, type TestUaTransport,
} from "@edgepath/testkit";
import { getJson, runCtl, startNode, type NodeProc } from "./support/cluster.js";

const DOMAIN = "example.com";
let redis: RedisServer;
let nats: NatsServer;
let env: Record<string, string>;
const workers: NodeProc[] = [];
let edgeA: NodeProc;
let edgeB: NodeProc;
const uas: TestUa[] = [];

interface Ring { readonly version: number; readonly members: ReadonlyArray<{ id: string; sipAddress: string }> }
interface AorView {
  readonly aor: string;
  readonly bindings: ReadonlyArray<{ contact: string; reachable: boolean; reason: string | null; edge: string | null; transport: string | null; expires: number; path: string[]; lastSeen: string }>;
}

beforeAll(async () => {
  [redis, nats] = await Promise.all([startRedis({ persistence: true }), startNats()]);
  env = {
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    EDGEPATH_SECRET: `cluster-secret-${randomToken(8)}`,
    EDGEPATH_DOMAINS: DOMAIN,
    EDGEPATH_AUTH: "off",
  };
  workers.push(...(await Promise.all(["w1", "w2", "w3"].map((id) => startNode("registrar", id, env)))));
  [edgeA, edgeB] = await Promise.all([startNode("edge", "edge-a", env), startNode("edge", "edge-b", env)]);
  // DESIGN §4: every edge computes the same ring from the live worker set.
  for (const e of [edgeA, edgeB]) await waitFor(until(async () => (await ring(e)).members.length === 3), { timeoutMs: 15_000, what: `${e.id} sees 3 workers` });
}, 90_000);

afterAll(async () => {
  const dump = process.env["EDGEPATH_TEST_DUMP"];
  if (dump !== undefined) for (const p of [...workers, edgeA, edgeB]) if (p !== undefined) writeFileSync(`${dump}-${p.id}.log`, p.log());
  await Promise.allSettled(uas.map((u) => u.close()));
  await Promise.allSettled([...workers, edgeA, edgeB].filter((p) => p !== undefined).map((p) => p.kill("SIGKILL")));
  await Promise.allSettled([redis?.stop(), nats?.stop()]);
}, 30_000);

async function ring(e: NodeProc): Promise<Ring> {
  return (await getJson<Ring>(`${e.adminUrl}/v1/ring`)).body;
}

async function ua(transport: TestUaTransport = "udp"): Promise<TestUa> {
  const u = await TestUa.create({ transport });
  uas.push(u);
  return u;
}

/** waitFor keeps polling while the probe returns undefined: a boolean condition maps to true | undefined. */
const until = (cond: () => Promise<boolean>) => async (): Promise<true | undefined> => ((await cond()) ? true : undefined);

const at = (e: NodeProc) => ({ host: "127.0.0.1", port: e.sipPort });

function registerText(u: TestUa, user: string, callId: string, cseq: number, expires = 300): string {
  return sipText(`REGISTER sip:${DOMAIN} SIP/2.0`, [
    `Via: SIP/2.0/${u.transport.toUpperCase()} ${u.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:${user}@${DOMAIN}>;tag=${randomToken(4)}`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@${u.hostport};transport=${u.transport}>`,
    `Expires: ${expires}`,
    "Supported: path",
  ]);
}

interface Registered { readonly ua: TestUa; readonly user: string; readonly edge: NodeProc; readonly callId: string; cseq: number }

async function register(u: TestUa, user: string, edge: NodeProc): Promise<Registered> {
  const r: Registered = { ua: u, user, edge, callId: `${randomToken()}@reg`, cseq: 1 };
  const res = await u.request(registerText(u, user, r.callId, r.cseq), at(edge), 10_000);
  expect(sipStatus(res), res).toBe(200);
  return r;
}

/** Re-REGISTER on the same Call-ID with the next CSeq (RFC 3261 §10.2.4 refresh). */
async function refresh(r: Registered): Promise<string> {
  r.cseq++;
  return r.ua.request(registerText(r.ua, r.user, r.callId, r.cseq), at(r.edge), 10_000);
}

function messageText(from: TestUa, toUser: string, body: string): string {
  return sipText(`MESSAGE sip:${toUser}@${DOMAIN} SIP/2.0`, [
    `Via: SIP/2.0/${from.transport.toUpperCase()} ${from.hostport};branch=z9hG4bK${randomToken()};rport`,
    "Max-Forwards: 70",
    `From: <sip:caller@${DOMAIN}>;tag=${randomToken(4)}`,
    `To: <sip:${toUser}@${DOMAIN}>`,
    `Call-ID: ${randomToken()}@msg`,
    "CSeq: 1 MESSAGE",
    "Content-Type: text/plain",
  ], body);
}

function ok200(req: string): string {
  const to = sipHeader(req, "to")!;
  return sipText("SIP/2.0 200 OK", [
    ...sipHeaders(req, "via").map((v) => `Via: ${v}`),
    `From: ${sipHeader(req, "from")!}`,
    `To: ${to.includes(";tag=") ? to : `${to};tag=${randomToken(4)}`}`,
    `Call-ID: ${sipHeader(req, "call-id")!}`,
    `CSeq: ${sipHeader(req, "cseq")!}`,
  ]);
}

/** RFC 3428: a MESSAGE from `caller` (via `via`) reaches `callee`, who answers 200, which reaches the caller. */
async function deliver(caller: TestUa, via: NodeProc, callee: Registered): Promise<void> {
  const text = messageText(caller, callee.user, `hi ${callee.user}`);
  const callId = sipHeader(text, "call-id")!;
  const pending = caller.request(text, at(via), 15_000);
  const got = await callee.ua.nextMessage((m) => sipMethod(m) === "MESSAGE" && sipHeader(m, "call-id") === callId, 15_000);
  callee.ua.send(ok200(got), at(callee.edge));
  const res = await pending;
  expect(sipStatus(res), `MESSAGE to ${callee.user}: ${res}`).toBe(200);
}

async function aor(user: string, worker: NodeProc = workers.find((w) => !w.exited)!): Promise<AorView> {
  const r = await getJson<AorView>(`${worker.adminUrl}/v1/aors/${encodeURIComponent(`sip:${user}@${DOMAIN}`)}`);
  expect(r.status).toBe(200);
  return r.body;
}

describe("edgepath as separate processes (Redis + NATS)", () => {
  const users: Registered[] = [];

  it("DESIGN §4: workers advertise their SIP address; both edges build the same ring", async () => {
    const [a, b] = await Promise.all([ring(edgeA), ring(edgeB)]);
    expect(a.members.map((m) => m.id)).toEqual(["w1", "w2", "w3"]);
    expect(b.members).toEqual(a.members);
    for (const w of workers) expect(a.members.find((m) => m.id === w.id)?.sipAddress).toBe(w.ready.internal[0]);
  });

  it("RFC 3327: users registered through edge A are reached by a caller on edge B (and on A)", async () => {
    for (let i = 0; i < 8; i++) users.push(await register(await ua(), `u${i}-${randomToken(2)}`, edgeA));
    const callerB = await ua();
    const callerA = await ua();
    for (const u of users) await deliver(callerB, edgeB, u);
    await deliver(callerA, edgeA, users[0]!);
    // Redis is the truth: any worker shows the binding with edge A's Path.
    const view = await aor(users[0]!.user, workers[2]);
    expect(view.bindings).toHaveLength(1);
    expect(view.bindings[0]!.edge).toBe(edgeA.ready.internal[0]);
    expect(view.bindings[0]!.reachable).toBe(true);
  }, 120_000);

  it("SIGKILL a worker: the ring drops it within seconds, every user still gets MESSAGEs and can re-register", async () => {
    const victim = workers[1]!;
    await victim.kill("SIGKILL");
    for (const e of [edgeA, edgeB]) {
      await waitFor(until(async () => (await ring(e)).members.length === 2), { timeoutMs: 15_000, what: `${e.id} drops ${victim.id}` });
      expect((await ring(e)).members.map((m) => m.id)).toEqual(["w1", "w3"]);
    }
    const caller = await ua();
    for (const u of users) await deliver(caller, edgeB, u);
    for (const u of users) {
      const res = await refresh(u);
      expect(sipStatus(res), res).toBe(200);
      // RFC 3261 §10.3 step 8: the refresh replaced the binding, it did not add one.
      expect(sipHeaders(res, "contact")).toHaveLength(1);
    }
  }, 120_000);

  it("a worker that starts joins the ring and takes its share", async () => {
    const w4 = await startNode("registrar", "w4", env);
    workers.push(w4);
    for (const e of [edgeA, edgeB]) await waitFor(until(async () => (await ring(e)).members.some((m) => m.id === "w4")), { timeoutMs: 15_000, what: `${e.id} adds w4` });
    const caller = await ua();
    for (const u of users) await deliver(caller, edgeA, u);
  }, 60_000);

  it("Redis restart: REGISTER gets 503 + Retry-After meanwhile, service returns, nothing lost or written twice", async () => {
    const late = await ua();
    const lateUser = `late-${randomToken(2)}`;
    let during: string | undefined;
    await redis.restart({
      whileDown: async () => {
        during = await late.request(registerText(late, lateUser, `${randomToken()}@down`, 1), at(edgeA), 10_000);
      },
    });
    // RFC 3261 §21.5.4: 503 with Retry-After while the store is unreachable; no process died.
    expect(sipStatus(during!), during).toBe(503);
    expect(Number(sipHeader(during!, "retry-after"))).toBeGreaterThan(0);
    expect(workers.filter((w) => !w.exited).length).toBe(3);
    // Service resumes once the clients have reconnected.
    let registered: Registered | undefined;
    await waitFor(
      async () => {
        const res = await late.request(registerText(late, lateUser, `${randomToken()}@up`, 1), at(edgeA), 5000).catch(() => undefined);
        if (res !== undefined && sipStatus(res) === 200) registered = { ua: late, user: lateUser, edge: edgeA, callId: "", cseq: 1 };
        return registered;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "REGISTER succeeds after the Redis restart" },
    );
    // Nothing lost (AOF), nothing written twice: each user still has exactly its one binding.
    for (const u of users) {
      const view = await aor(u.user);
      expect(view.bindings.map((b) => b.contact)).toEqual([`sip:${u.user}@${u.ua.hostport};transport=udp`]);
    }
    expect((await aor(lateUser)).bindings).toHaveLength(1);
    const caller = await ua();
    await deliver(caller, edgeB, users[3]!);
    await deliver(caller, edgeB, registered!);
    // The dataset marker came back with the AOF: no worker reports a loss (no false alarm).
    for (const w of workers.filter((x) => !x.exited)) {
      const text = await (await fetch(`${w.adminUrl}/metrics`)).text();
      expect(text, w.id).toMatch(/^edgepath_redis_dataset_lost_total\{[^}]*\} 0$/m);
    }
  }, 120_000);

  it("RFC 5626 §5.3 / DESIGN §3: a TCP UA disconnects -> flow-failed -> MESSAGE fails fast with 480; the API says why", async () => {
    const tcp = await ua("tcp");
    const user = `tcp-${randomToken(2)}`;
    const reg = await register(tcp, user, edgeA);
    await deliver(await ua(), edgeB, reg);
    await tcp.dropConnection(at(edgeA));
    await waitFor(until(async () => (await aor(user)).bindings[0]?.reachable === false), { timeoutMs: 15_000, what: "binding marked unreachable" });
    const b = (await aor(user)).bindings[0]!;
    expect(b.reason).toMatch(/^flow-failed/);
    expect(b.transport).toBe("tcp");
    // The only binding is unreachable: 480 from the owner worker, not a timeout (no 408).
    const caller = await ua();
    const res = await caller.request(messageText(caller, user, "are you there"), at(edgeB), 10_000);
    expect(sipStatus(res), res).toBe(480);
  }, 60_000);

  it("`edgepath ctl aor|ring|flows` prints the admin API's JSON", async () => {
    const user = users[0]!.user;
    const a = await runCtl(["aor", `sip:${user}@${DOMAIN}`, `--url=${workers[0]!.adminUrl}`]);
    expect(a.code, a.stderr).toBe(0);
    const view = JSON.parse(a.stdout) as AorView;
    expect(view.aor).toBe(`sip:${user}@${DOMAIN}`);
    expect(view.bindings[0]).toMatchObject({ reachable: true, transport: "udp", edge: edgeA.ready.internal[0] });
    expect(Object.keys(view.bindings[0]!)).toEqual(expect.arrayContaining(["contact", "expires", "path", "edge", "transport", "reachable", "lastSeen", "reason"]));
    const r = await runCtl(["ring"], { EDGEPATH_ADMIN_URL: edgeB.adminUrl });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Ring).members.map((m) => m.id)).toEqual(["w1", "w3", "w4"]);
    const tcp = await ua("tcp");
    await register(tcp, `flows-${randomToken(2)}`, edgeA);
    const f = await runCtl(["flows", `--url=${edgeA.adminUrl}`]);
    expect(f.code, f.stderr).toBe(0);
    const flows = JSON.stringify(JSON.parse(f.stdout));
    expect(flows).toContain(String(tcp.connectionPort(at(edgeA))));
  }, 60_000);

  let onB: Registered;
  let tcpOnB: Registered;

  it("DESIGN §3: an edge whose heartbeats stop makes the bindings behind it unreachable (edge-down)", async () => {
    const u = await ua();
    const user = `onb-${randomToken(2)}`;
    onB = await register(u, user, edgeB);
    tcpOnB = await register(await ua("tcp"), `tcponb-${randomToken(2)}`, edgeB);
    expect((await aor(user)).bindings[0]?.edge).toBe(edgeB.ready.internal[0]);
    await edgeB.kill("SIGKILL");
    await waitFor(until(async () => (await aor(user)).bindings[0]?.reachable === false), { timeoutMs: 20_000, what: "edge-down marks the binding" });
    expect((await aor(user)).bindings[0]?.reason).toBe("edge-down");
    await waitFor(until(async () => (await aor(tcpOnB.user)).bindings[0]?.reachable === false), { timeoutMs: 10_000, what: "edge-down marks the TCP binding" });
    // Bindings behind edge A are untouched.
    expect((await aor(users[1]!.user)).bindings[0]?.reachable).toBe(true);
    const caller = await ua();
    const res = await caller.request(messageText(caller, user, "gone?"), at(edgeA), 10_000);
    expect(sipStatus(res), res).toBe(480);
  }, 60_000);

  it("DESIGN §3: the edge comes back at the same address (edge-up): its UDP bindings are reachable again, its lost TCP flows are not", async () => {
    const internal = edgeB.ready.internal[0]!;
    edgeB = await startNode("edge", "edge-b", { ...env, EDGEPATH_INTERNAL_LISTEN: internal }, 20_000, edgeB.sipPort);
    expect(edgeB.ready.internal[0]).toBe(internal);
    await waitFor(until(async () => (await aor(onB.user)).bindings[0]?.reachable === true), { timeoutMs: 20_000, what: "edge-up restores the UDP binding" });
    const b = (await aor(onB.user)).bindings[0]!;
    expect(b.reason).toBeNull();
    // No REGISTER happened: the phone's UDP address is reached through the edge again.
    onB = { ...onB, edge: edgeB };
    await deliver(await ua(), edgeA, onB);
    // The TCP connection died with the old process: still unreachable, and a MESSAGE fails fast.
    expect((await aor(tcpOnB.user)).bindings[0]).toMatchObject({ reachable: false, reason: "edge-down" });
    const caller = await ua();
    const res = await caller.request(messageText(caller, tcpOnB.user, "tcp gone?"), at(edgeA), 10_000);
    expect(sipStatus(res), res).toBe(480);
  }, 60_000);
});
