/**
 * The edge's part in overload control (services/registrar/src/overload.ts): it stamps every
 * request it forwards to a worker with its clock (X-Edgepath-Sent-At, @edgepath/cluster) — its own
 * stamp, replacing one a UA made up — and the worker's refusal (500 + Retry-After, RFC 3261 §16.7
 * step 6 / §21.5.1) reaches the UA as the worker sent it, with nothing internal on it. A real edge
 * process and nats-server, and a fake worker on a real UDP socket that joins the ring by
 * heartbeats and records what it receives. Needs `pnpm exec tsc -b` first.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Heartbeater, monotonicEpochMs, parseEdgeSentAt } from "@edgepath/cluster";
import { NatsClusterBus } from "@edgepath/cluster-nats";
import { randomToken, sipHeader, sipHeaders, sipStatus, startNats, TestUa, waitFor, type NatsServer } from "@edgepath/testkit";
import { getJson, startNode, type NodeProc } from "./support/cluster.js";
import { registerText } from "./support/ua.js";

let nats: NatsServer;
let edge: NodeProc;
let bus: NatsClusterBus;
let heartbeat: Heartbeater;
let worker: Socket;
/** requests the fake worker received, as text */
const received: string[] = [];

/** The request's Via/From/To/Call-ID/CSeq under a status line, plus `headers`. */
function answerFrom(req: string, status: string, headers: readonly string[]): string {
  const lines = req.slice(0, req.indexOf("\r\n\r\n")).split("\r\n").slice(1);
  const out: string[] = [`SIP/2.0 ${status}`];
  for (const l of lines) {
    const name = l.slice(0, l.indexOf(":")).trim().toLowerCase();
    if (["via", "v", "from", "f", "call-id", "i", "cseq"].includes(name)) out.push(l);
    else if (name === "to" || name === "t") out.push(`${l};tag=w${randomToken(3)}`);
  }
  return [...out, ...headers, "Content-Length: 0", "", ""].join("\r\n");
}

beforeAll(async () => {
  nats = await startNats();
  worker = createSocket("udp4");
  await new Promise<void>((resolve) => worker.bind(0, "127.0.0.1", resolve));
  worker.on("message", (msg, rinfo) => {
    const text = msg.toString("latin1");
    if (text.startsWith("SIP/2.0")) return;
    received.push(text);
    // the worker is overloaded: its refusal as RegistrarWorker sends it
    const res = answerFrom(text, "500 Server Overloaded", ["Retry-After: 3"]);
    worker.send(Buffer.from(res, "latin1"), rinfo.port, rinfo.address);
  });
  bus = await NatsClusterBus.connect({ servers: [nats.url], name: "fake-worker" });
  heartbeat = new Heartbeater(bus, { id: "fake-w1", role: "worker", sipAddress: `127.0.0.1:${worker.address().port}`, startedAt: Date.now() }, 200);
  heartbeat.start();
  edge = await startNode("edge", "edge-ov", { NATS_URL: nats.url, EDGEPATH_SECRET: `overload-secret-${randomToken(8)}`, EDGEPATH_DOMAINS: "example.com", EDGEPATH_HEARTBEAT_MS: "200", EDGEPATH_MEMBER_TTL_MS: "2000" });
  await waitFor(async () => ((await getJson<{ members: unknown[] }>(`${edge.adminUrl}/v1/ring`)).body.members.length === 1 ? true : undefined), { timeoutMs: 15_000, what: "the edge sees the fake worker" });
}, 60_000);

afterAll(async () => {
  heartbeat?.stop(true);
  await bus?.close().catch(() => undefined);
  await edge?.kill("SIGKILL");
  worker?.close();
  await nats?.stop();
}, 30_000);

describe("overload control: the edge's stamp and the worker's refusal", () => {
  it("every request towards a worker carries one fresh stamp of the edge's clock, also when the UA sent a made-up one", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const target = { host: "127.0.0.1", port: edge.sipPort };
    received.length = 0;
    const honest = registerText(ua, `st-${randomToken(3)}`);
    // a UA that tries to make the worker think the request waited an hour
    const forged = registerText(ua, `st-${randomToken(3)}`).replace("\r\nCall-ID:", `\r\nX-Edgepath-Sent-At: 0a0a0a0a.${monotonicEpochMs() - 3_600_000}\r\nCall-ID:`);
    expect(forged).toContain("X-Edgepath-Sent-At");
    let stamps: string[] = [];
    for (const text of [honest, forged]) {
      const before = monotonicEpochMs();
      await ua.request(text, target, 5_000);
      const got = received.at(-1)!;
      stamps = sipHeaders(got, "x-edgepath-sent-at");
      expect(stamps, got).toHaveLength(1);
      const stamp = parseEdgeSentAt(stamps[0]!);
      expect(stamp, stamps[0]).toBeDefined();
      // the edge's monotonic clock near ours (same host): sent after we sent, before we looked
      expect(stamp!.ms).toBeGreaterThanOrEqual(before - 1_000);
      expect(stamp!.ms).toBeLessThanOrEqual(monotonicEpochMs() + 1_000);
      expect(stamp!.clock).not.toBe("0a0a0a0a");
      // nothing of it in the edge's Via (that Via would stay in a request proxied back out)
      expect(sipHeaders(got, "via")[0]).not.toMatch(/;ts=/);
    }
    // one clock id per edge process
    expect(parseEdgeSentAt(sipHeader(received[0]!, "x-edgepath-sent-at")!)!.clock).toBe(parseEdgeSentAt(stamps[0]!)!.clock);
  });

  it("RFC 3261 §16.7 step 6: the worker's 500 + Retry-After reaches the UA as sent, with only the UA's Via", async () => {
    await using ua = await TestUa.create({ transport: "udp" });
    const res = await ua.request(registerText(ua, `ov-${randomToken(3)}`), { host: "127.0.0.1", port: edge.sipPort }, 5_000);
    expect(sipStatus(res)).toBe(500);
    expect(res).toMatch(/^SIP\/2\.0 500 Server Overloaded\r\n/);
    expect(sipHeader(res, "retry-after")).toBe("3");
    expect(sipHeaders(res, "via")).toHaveLength(1);
    expect(sipHeaders(res, "x-edgepath-sent-at")).toEqual([]);
  });
});
