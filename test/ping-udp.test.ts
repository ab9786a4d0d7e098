/**
 * DESIGN §3 "registered is not reachable", UDP side: with EDGEPATH_UDP_PING_INTERVAL_MS set, the
 * edge sends OPTIONS over every UDP flow with a registered contact (Kamailio nathelper's
 * sipping). A UA that answers — with anything, RFC 3261 §11 — stays reachable; one that goes
 * silent is reported (flow-failed, reason ping-timeout), its binding shows reachable:false in the
 * admin API and a MESSAGE to it fails at once with 480; when it answers again it is reachable.
 * Real UDP sockets against the embedded system (one edge, two workers, in-process bus).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken, sipHeader, sipMethod, sipStatus, TestUa, TestUaTimeoutError, waitFor } from "@edgepath/testkit";
import { startEmbedded, type EmbeddedSystem } from "./support/embedded.js";
import { answer, aorView, messageText, register } from "./support/ua.js";

const INTERVAL_MS = 200;
const TIMEOUT_MS = 800;
const WAIT = 15_000;

let sys: EmbeddedSystem;
const edge = (): { host: string; port: number } => ({ host: "127.0.0.1", port: sys.sipPort });

beforeAll(async () => {
  sys = await startEmbedded({ EDGEPATH_UDP_PING_INTERVAL_MS: String(INTERVAL_MS), EDGEPATH_UDP_PING_TIMEOUT_MS: String(TIMEOUT_MS) });
});
afterAll(async () => {
  await sys?.stop();
});

const isOptions = (m: string): boolean => sipMethod(m) === "OPTIONS";

/** Answers every OPTIONS ping with `status` until stopped; records what it answered. */
function pingAnswerer(ua: TestUa, status: number): { readonly pings: string[]; stop(): void } {
  const pings: string[] = [];
  let stopped = false;
  void (async () => {
    while (!stopped) {
      let ping: string;
      try {
        ping = await ua.nextMessage(isOptions, 500);
      } catch (err) {
        if (err instanceof TestUaTimeoutError) continue;
        return;
      }
      if (stopped) return;
      pings.push(ping);
      ua.send(answer(ping, status, status === 200 ? "OK" : "Method Not Allowed"), edge());
    }
  })();
  return {
    pings,
    stop: () => {
      stopped = true;
    },
  };
}

describe("OPTIONS pinging of UDP contacts (DESIGN §3, RFC 3261 §11)", () => {
  it("RFC 3261 §11: a UA that answers the edge's OPTIONS (even 405) stays reachable", async () => {
    await using bob = await TestUa.create({ transport: "udp" });
    const bobUser = `bob-${randomToken(3)}`;
    await register(bob, edge(), bobUser);
    const answerer = pingAnswerer(bob, 405);
    try {
      // More pings answered than fit in the timeout: had the answers not counted, it would have failed.
      await waitFor(() => (answerer.pings.length >= 3 * (TIMEOUT_MS / INTERVAL_MS) ? true : undefined), { timeoutMs: WAIT, what: "pings answered" });
    } finally {
      answerer.stop();
    }
    const ping = answerer.pings[0]!;
    // The ping is addressed to the registered contact, from the edge's public side (our Via, rport).
    expect(ping).toMatch(new RegExp(`^OPTIONS sip:${bobUser}@127\\.0\\.0\\.1:${bob.port};transport=udp SIP/2\\.0\r\n`));
    expect(sipHeader(ping, "via")).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${sys.sipPort};branch=z9hG4bK\\S+;rport$`));
    expect(sipHeader(ping, "max-forwards")).toBe("70");
    const view = await aorView(sys.adminUrl, bobUser);
    expect(view.bindings).toHaveLength(1);
    expect(view.bindings[0]!.reachable).toBe(true);
    // The answers were consumed by the edge: nothing bounced back to Bob.
    expect(bob.received.filter((m) => sipStatus(m) !== undefined && sipHeader(m, "cseq")?.endsWith("OPTIONS") === true)).toEqual([]);
  });

  it("a UA that stops answering becomes reachable:false (ping-timeout), a MESSAGE to it gets 480 at once, and it recovers when it answers again", async () => {
    await using alice = await TestUa.create({ transport: "udp" });
    await using carol = await TestUa.create({ transport: "udp" });
    const carolUser = `carol-${randomToken(3)}`;
    await register(carol, edge(), carolUser);
    // Carol is silent: pings arrive, nobody answers.
    await carol.nextMessage(isOptions, WAIT);
    const view = await waitFor(
      async () => {
        const v = await aorView(sys.adminUrl, carolUser);
        return v.bindings[0]?.reachable === false ? v : undefined;
      },
      { timeoutMs: WAIT, what: "Carol's binding unreachable" },
    );
    expect(view.bindings).toHaveLength(1);
    expect(view.bindings[0]!.reason).toMatch(/ping-timeout/);

    // DESIGN §3: fails fast (well inside request()'s 5 s; Timer F would be 32 s), never reaches Carol.
    const callId = `${randomToken()}@msg`;
    const res = await alice.request(messageText(alice, "alice", carolUser, "are you there?", { callId }), edge());
    expect(sipStatus(res)).toBe(480);
    expect(carol.received.some((m) => sipMethod(m) === "MESSAGE")).toBe(false);

    // Carol answers again: the edge reports the flow alive and the worker marks her reachable.
    const answerer = pingAnswerer(carol, 200);
    try {
      await waitFor(
        async () => {
          const v = await aorView(sys.adminUrl, carolUser);
          return v.bindings[0]?.reachable === true ? v : undefined;
        },
        { timeoutMs: WAIT, what: "Carol's binding reachable again" },
      );
      // And a MESSAGE reaches her again (the answerer only answers OPTIONS; she answers this one here).
      const again = alice.request(messageText(alice, "alice", carolUser, "welcome back"), edge(), WAIT);
      const msg = await carol.nextMessage((m) => sipMethod(m) === "MESSAGE", WAIT);
      carol.send(answer(msg, 200, "OK"), edge());
      expect(sipStatus(await again)).toBe(200);
    } finally {
      answerer.stop();
    }
  });
});
