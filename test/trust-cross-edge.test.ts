/**
 * DESIGN §6 trust boundary across edges (separate processes, real redis-server and nats-server):
 * a dialog that crosses two edges has the far edge's internal socket in its Route set, followed
 * by that edge's token-bearing public entry (RFC 5658 double Record-Route), and its in-dialog BYE
 * goes through. A stranger's Route straight at the other edge's internal socket (which would have
 * it relay to any Request-URI, as a request from our own cluster) is refused with 403: edges know
 * each other's internal addresses from edge membership. Needs `pnpm exec tsc -b` first.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipMethod, sipStatus, startNats, startRedis, TestUa, waitFor, type NatsServer, type RedisServer } from "@edgepath/testkit";
import { FlowTokenCodec } from "@edgepath/flow-token";
import { getJson, startNode, type NodeProc } from "./support/cluster.js";
import { answer, inDialog, inviteText, recordRoutes, register } from "./support/ua.js";

const WAIT = 15_000;
let redis: RedisServer;
let nats: NatsServer;
const nodes: NodeProc[] = [];
let edgeA: NodeProc;
let edgeB: NodeProc;

const SECRET = `cluster-secret-${randomToken(8)}`;
const at = (e: NodeProc): { host: string; port: number } => ({ host: "127.0.0.1", port: e.sipPort });

beforeAll(async () => {
  [redis, nats] = await Promise.all([startRedis(), startNats()]);
  const env = { REDIS_URL: redis.url, NATS_URL: nats.url, EDGEPATH_SECRET: SECRET, EDGEPATH_DOMAINS: "example.com", EDGEPATH_AUTH: "off" };
  nodes.push(await startNode("registrar", "w1", env));
  // Edge A first: it is listening for edge heartbeats when edge B announces itself.
  edgeA = await startNode("edge", "edge-a", env);
  edgeB = await startNode("edge", "edge-b", env);
  nodes.push(edgeA, edgeB);
  for (const e of [edgeA, edgeB]) {
    await waitFor(async () => ((await getJson<{ members: unknown[] }>(`${e.adminUrl}/v1/ring`)).body.members.length === 1 ? true : undefined), { timeoutMs: WAIT, what: `${e.id} sees the worker` });
  }
}, 90_000);

afterAll(async () => {
  await Promise.allSettled(nodes.map((p) => p.kill("SIGKILL")));
  await Promise.allSettled([redis?.stop(), nats?.stop()]);
}, 30_000);

interface CrossEdgeCall {
  readonly rr: string[];
  readonly callId: string;
  readonly aliceFrom: string;
  readonly bobFrom: string;
}

/** Alice (on edge B) calls Bob (registered on edge A); Bob answers 200 and Alice has it. */
async function crossEdgeCall(alice: TestUa, bob: TestUa): Promise<CrossEdgeCall> {
  const bobUser = `bob-${randomToken(3)}`;
  await register(bob, at(edgeA), bobUser);
  // Through edge B; the worker sends it to edge A, which holds Bob's flow.
  const callId = `${randomToken()}@call`;
  const aliceFrom = `<sip:alice@example.com>;tag=${randomToken(4)}`;
  alice.send(inviteText(alice, { to: `sip:${bobUser}@example.com`, from: aliceFrom, callId, contact: `<sip:alice@${alice.hostport}>` }), at(edgeB));
  const inv = await bob.nextMessage((m) => sipMethod(m) === "INVITE" && sipHeader(m, "call-id") === callId, WAIT);
  const bobTag = randomToken(4);
  bob.send(answer(inv, 200, "OK", { toTag: bobTag, contact: `<sip:${bobUser}@${bob.hostport}>` }), at(edgeA));
  await alice.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId, WAIT);
  return { rr: recordRoutes(inv), callId, aliceFrom, bobFrom: `<sip:${bobUser}@example.com>;tag=${bobTag}` };
}

/** Bob hangs up along the Record-Route (in order, RFC 3261 §12.1.1) through edge A; Alice answers 200. */
async function bobHangsUp(alice: TestUa, bob: TestUa, call: CrossEdgeCall): Promise<void> {
  const done = bob.request(inDialog(bob, "BYE", { target: `sip:alice@${alice.hostport}`, routeSet: call.rr, from: call.bobFrom, to: call.aliceFrom, callId: call.callId, cseq: 2 }), at(edgeA), WAIT);
  const bye = await alice.nextMessage((m) => sipMethod(m) === "BYE" && sipHeader(m, "call-id") === call.callId, WAIT);
  alice.send(answer(bye, 200, "OK"), at(edgeB));
  expect(sipStatus(await done)).toBe(200);
}

/** An in-dialog request from a stranger: made-up tags and Call-ID, the Route set given. */
function strangerRequest(ua: TestUa, method: string, target: string, routeSet: readonly string[]): string {
  return inDialog(ua, method, {
    target,
    routeSet,
    from: `<sip:mallory@example.com>;tag=${randomToken(4)}`,
    to: `<sip:victim@example.com>;tag=${randomToken(4)}`,
    callId: `${randomToken()}@stranger`,
    cseq: 1,
  });
}

/** A token anyone in a call through the cluster has seen: a UDP flow on edge B, signed with the cluster secret. */
function seenToken(): string {
  return new FlowTokenCodec(SECRET).encode({ transport: "udp", localAddress: "127.0.0.1", localPort: edgeB.sipPort, remoteAddress: "127.0.0.1", remotePort: 9, connectionId: 0 });
}

/**
 * Sends fresh copies of a request through edge A until `accept` takes the answer: edges learn each
 * other from heartbeats (every second), so the first tries may meet an edge A that has not heard B.
 */
async function retryThroughEdgeA(ua: TestUa, make: () => string, accept: (res: string) => Promise<boolean> | boolean, what: string): Promise<string> {
  return waitFor(
    async () => {
      const r = await ua.request(make(), at(edgeA), WAIT);
      return (await accept(r)) ? r : undefined;
    },
    { timeoutMs: WAIT, intervalMs: 200, what },
  );
}

describe("Route trust across two edges (DESIGN §6, RFC 5658)", () => {
  it("a dialog's BYE crosses from edge A to edge B's internal socket; a stranger's Route to it is refused", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "udp" });
    await using mallory = await TestUa.create({ transport: "udp" });
    await using victim = await TestUa.create({ transport: "udp" });
    const call = await crossEdgeCall(alice, bob);
    const rr = call.rr;
    expect(rr).toHaveLength(4);
    // Edge B's internal entry sits in the set Bob will use towards edge A.
    const bInternal = edgeB.ready.internal[0]!;
    // It carries the cluster's mark for that address, so edge A knows it for one of ours without membership.
    expect(rr[2]).toBe(`<sip:${bInternal};lr;em=${new FlowTokenCodec(SECRET).edgeMark(bInternal)}>`);
    // Bob hangs up via edge A: next hop edge B's internal socket, then Alice's token: allowed.
    await bobHangsUp(alice, bob, call);

    // Mallory routes straight at edge B's internal socket, aiming at a third party: refused at edge A
    // once it has heard B's heartbeat.
    const res = await retryThroughEdgeA(
      mallory,
      () => strangerRequest(mallory, "BYE", `sip:victim@${victim.hostport}`, [`<sip:${bInternal};lr>`]),
      (r) => sipStatus(r) === 403,
      "edge A refuses a Route to edge B's internal socket",
    );
    expect(res).toMatch(/^SIP\/2\.0 403 Forbidden Route\r\n/);
    expect(victim.received).toEqual([]);
  }, 60_000);

  it("RFC 3261 §26.3.2.1: edge B's internal socket followed by a valid token at a third party's address is refused by edge B (no relay through a peer edge)", async () => {
    await using mallory = await TestUa.create({ transport: "udp" });
    await using victim = await TestUa.create({ transport: "udp" });
    const bInternal = edgeB.ready.internal[0]!;
    // Edge A passes it on (another edge, then a verified token: one anyone in a call has seen, in
    // an entry that names the victim instead of edge B) once it has heard edge B; edge B, which
    // receives it on its internal socket from a sender that is not a worker and finds no flow of
    // its own in it, refuses (counted as relay-internal). Until edge A has heard edge B, edge A
    // refuses it itself: retried until edge B has counted one.
    const res = await retryThroughEdgeA(
      mallory,
      () => strangerRequest(mallory, "INVITE", `sip:+15550001@${victim.hostport}`, [`<sip:${bInternal};lr>`, `<sip:${seenToken()}@${victim.hostport};lr>`]),
      async (r) => {
        expect(r).toMatch(/^SIP\/2\.0 403 /);
        const bMetrics = await (await fetch(`${edgeB.adminUrl}/metrics`)).text();
        return /edgepath_sip_rejections_total\{[^}]*reason="relay-internal"[^}]*\} [1-9]/.test(bMetrics);
      },
      "edge B refusing the relay attempt",
    );
    expect(res).toMatch(/^SIP\/2\.0 403 Relaying Forbidden\r\n/);
    await new Promise((r) => setTimeout(r, 300));
    expect(victim.received).toEqual([]);
  }, 60_000);

  it("RFC 3261 §16.9 / §16.7 step 6: a hop to another edge the edge cannot send to (no TLS listener here) gets 500, with received/rport", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    // Retried while edge A may not know edge B yet (403).
    const res = await retryThroughEdgeA(
      ua,
      () => strangerRequest(ua, "BYE", "sip:alice@127.0.0.1:9", [`<sip:${edgeB.ready.internal[0]!};transport=tls;lr>`, `<sip:${seenToken()}@127.0.0.1:${edgeB.sipPort};lr>`]),
      (r) => sipStatus(r) === 500,
      "edge A's 500 for a hop it cannot send to",
    );
    expect(res).toMatch(/^SIP\/2\.0 500 Next Hop Unreachable\r\n/);
    expect(sipHeader(res, "via")).toMatch(/;received=127\.0\.0\.1/);
    expect(sipHeader(res, "via")).toMatch(/;rport=\d+/);
  }, 60_000);

  // Last in the file: it stops nats-server.
  it("an established cross-edge call keeps its in-dialog requests while NATS is down and the edges have forgotten each other", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "udp" });
    const call = await crossEdgeCall(alice, bob);

    // NATS goes away for longer than the member TTL (3 s): edge A no longer lists edge B.
    await nats.stop();
    await new Promise((r) => setTimeout(r, 4000));

    await bobHangsUp(alice, bob, call);
  }, 60_000);
});
