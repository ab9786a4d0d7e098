/**
 * DESIGN §6 / issue 5 trust boundary: a Route set from the public side that points at our
 * internals (a registrar worker's internal socket, the edge's own internal socket) without a
 * valid flow token of ours is refused with 403 — in-dialog requests included — and nothing
 * reaches the worker. A real dialog's in-dialog BYE, whose Route set is the edge's own
 * Record-Route (RFC 5658 double Record-Route with flow tokens), still goes through.
 * Real UDP sockets against the embedded system.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipMethod, sipStatus, TestUa } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, inDialog, inviteText, recordRoutes, register } from "./support/ua.js";

const WAIT = 10_000;
let sys: EmbeddedSystem;
const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

beforeAll(async () => {
  sys = await startEmbedded();
});
afterAll(async () => {
  await sys?.stop();
});

/** One sample of a Prometheus text exposition, 0 when absent. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${sys.adminUrl}/metrics`)).text();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function workerAddresses(): Promise<string[]> {
  const res = await fetch(`${sys.adminUrl}/v1/ring`);
  expect(res.status).toBe(200);
  const ring = (await res.json()) as { members: { sipAddress: string }[] };
  return ring.members.map((m) => m.sipAddress);
}

const strangerBye = (ua: TestUa, route: string): string =>
  inDialog(ua, "BYE", {
    target: "sip:bob@example.com",
    routeSet: [route],
    from: `<sip:mallory@example.com>;tag=${randomToken(4)}`,
    to: `<sip:bob@example.com>;tag=${randomToken(4)}`,
    callId: `${randomToken()}@evil`,
    cseq: 1,
  });

describe("Route sets pointing at our internals (DESIGN §6)", () => {
  it("an in-dialog BYE from outside with Route: <sip:WORKER_INTERNAL;lr> gets 403 and nothing reaches the worker", async () => {
    await using mallory = await TestUa.create({ transport: "udp" });
    const workers = await workerAddresses();
    expect(workers.length).toBe(2);
    const forwardedBefore = await metric("edgepath_sip_forwarded_total", { method: "BYE" });
    for (const worker of workers) {
      const res = await mallory.request(strangerBye(mallory, `<sip:${worker};lr>`), edge());
      expect(sipStatus(res)).toBe(403);
      expect(res).toMatch(/^SIP\/2\.0 403 Forbidden Route\r\n/);
    }
    expect(await metric("edgepath_sip_rejections_total", { status: "403", reason: "route-to-worker" })).toBe(2);
    expect(await metric("edgepath_sip_forwarded_total", { method: "BYE" })).toBe(forwardedBefore);
  });

  it("a Route naming the edge's own internal socket without a flow token gets 403", async () => {
    await using mallory = await TestUa.create({ transport: "udp" });
    const internal = sys.system.internal[0]!;
    const res = await mallory.request(strangerBye(mallory, `<sip:${internal};lr>`), edge());
    expect(sipStatus(res)).toBe(403);
    expect(await metric("edgepath_sip_rejections_total", { status: "403", reason: "route-internal" })).toBeGreaterThanOrEqual(1);
  });

  it("RFC 5658 / RFC 3261 §12.2: a real dialog's BYE via the edge's Record-Route still works; the same set with a worker appended is refused", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using bob = await TestUa.create({ transport: "udp" });
    const bobUser = `bob-${randomToken(3)}`;
    await register(bob, edge(), bobUser);
    const callId = `${randomToken()}@call`;
    const aliceFrom = `<sip:alice@example.com>;tag=${randomToken(4)}`;
    alice.send(
      inviteText(alice, { to: `sip:${bobUser}@example.com`, from: aliceFrom, callId: callId, contact: `<sip:alice@${alice.hostport}>` }),
      edge(),
    );
    const inv = await bob.nextMessage((m) => sipMethod(m) === "INVITE" && sipHeader(m, "call-id") === callId, WAIT);
    const rr = recordRoutes(inv);
    expect(rr.length).toBe(4);
    const bobTag = randomToken(4);
    bob.send(answer(inv, 200, "OK", { toTag: bobTag, contact: `<sip:${bobUser}@${bob.hostport}>` }), edge());
    await alice.nextMessage((m) => sipStatus(m) === 200 && sipHeader(m, "call-id") === callId, WAIT);
    const bobFrom = `<sip:${bobUser}@example.com>;tag=${bobTag}`;

    // Bob's route set with a worker's internal socket appended: refused, Alice sees nothing.
    const [worker] = await workerAddresses();
    const forged = await bob.request(
      inDialog(bob, "BYE", { target: `sip:alice@${alice.hostport}`, routeSet: [...rr, `<sip:${worker!};lr>`], from: bobFrom, to: aliceFrom, callId, cseq: 1 }),
      edge(),
    );
    expect(sipStatus(forged)).toBe(403);

    // The real route set (the Record-Route in order, §12.1.1): the BYE reaches Alice.
    const done = bob.request(inDialog(bob, "BYE", { target: `sip:alice@${alice.hostport}`, routeSet: rr, from: bobFrom, to: aliceFrom, callId, cseq: 2 }), edge(), WAIT);
    const bye = await alice.nextMessage((m) => sipMethod(m) === "BYE" && sipHeader(m, "call-id") === callId, WAIT);
    expect(sipHeader(bye, "cseq")).toBe("2 BYE");
    alice.send(answer(bye, 200, "OK"), edge());
    expect(sipStatus(await done)).toBe(200);
  });
});
