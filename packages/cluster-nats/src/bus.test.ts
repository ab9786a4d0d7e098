import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { startNats, waitFor, type NatsServer } from "@edgepath/testkit";
import { BusError, type BusMessage } from "@edgepath/cluster";
import { NatsClusterBus, type ClusterBusError } from "./bus.js";

let nats: NatsServer;

beforeAll(async () => {
  nats = await startNats();
}, 20_000);

afterAll(async () => {
  await nats?.stop();
});

function collect(bus: NatsClusterBus, subject: string): BusMessage[] {
  const got: BusMessage[] = [];
  bus.subscribe(subject, (m) => got.push(m));
  return got;
}

async function pair(): Promise<{ a: NatsClusterBus; b: NatsClusterBus; errors: Error[]; [Symbol.asyncDispose](): Promise<void> }> {
  const errors: Error[] = [];
  const a = await NatsClusterBus.connect({ servers: nats.url, name: "test-a", onError: (e) => errors.push(e) });
  const b = await NatsClusterBus.connect({ servers: nats.url, name: "test-b", onError: (e) => errors.push(e) });
  return {
    a,
    b,
    errors,
    async [Symbol.asyncDispose]() {
      await a.close();
      await b.close();
    },
  };
}

describe("NatsClusterBus", () => {
  it("delivers across connections with * and > wildcards, in order", async () => {
    await using p = await pair();
    const star = collect(p.b, "edgepath.v1.member.*");
    const tail = collect(p.b, "edgepath.>");
    const exact = collect(p.b, "edgepath.v1.flow.failed");
    await p.b.flush(); // subscriptions registered at the server before we publish
    p.a.publish("edgepath.v1.member.worker", "w1");
    p.a.publish("edgepath.v1.member.edge", "e1");
    p.a.publish("edgepath.v1.flow.failed", { flowToken: "t1" });
    p.a.publish("edgepath.v1.member.worker.extra", "deep"); // * matches one token only
    await p.a.flush();
    await waitFor(() => (tail.length === 4 ? true : undefined), { timeoutMs: 3000, what: "4 messages on edgepath.>" });
    expect(star.map((m) => m.subject)).toEqual(["edgepath.v1.member.worker", "edgepath.v1.member.edge"]);
    expect(tail.map((m) => m.subject)).toEqual(["edgepath.v1.member.worker", "edgepath.v1.member.edge", "edgepath.v1.flow.failed", "edgepath.v1.member.worker.extra"]);
    expect(exact).toHaveLength(1);
    expect(exact[0]!.json<{ flowToken: string }>()).toEqual({ flowToken: "t1" });
    expect(new TextDecoder().decode(star[0]!.data)).toBe("w1");
    expect(p.errors).toEqual([]);
  });

  it("carries headers as NATS headers (W3C traceparent round trip)", async () => {
    await using p = await pair();
    const got = collect(p.b, "edgepath.v1.binding.changed");
    await p.b.flush();
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    p.a.publish("edgepath.v1.binding.changed", { aor: "sip:alice@example.com", by: "w1" }, { traceparent, "X-Edgepath-Origin": "w1" });
    p.a.publish("edgepath.v1.binding.changed", new Uint8Array([1, 2, 3]));
    await p.a.flush();
    await waitFor(() => (got.length === 2 ? true : undefined), { timeoutMs: 3000, what: "2 messages" });
    expect(got[0]!.headers.get("traceparent")).toBe(traceparent);
    expect(got[0]!.headers.get("X-Edgepath-Origin")).toBe("w1");
    expect(got[0]!.json()).toEqual({ aor: "sip:alice@example.com", by: "w1" });
    expect(got[1]!.headers.size).toBe(0);
    expect([...got[1]!.data]).toEqual([1, 2, 3]);
  });

  it("unsubscribe stops delivery; a throwing handler is reported and does not kill the subscription", async () => {
    await using p = await pair();
    const seen: string[] = [];
    const sub = p.b.subscribe("t.a", (m) => {
      const s = new TextDecoder().decode(m.data);
      seen.push(s);
      if (s === "boom") throw new Error("handler bug");
    });
    const other = collect(p.b, "t.a");
    await p.b.flush();
    p.a.publish("t.a", "boom");
    p.a.publish("t.a", "after");
    await p.a.flush();
    await waitFor(() => (other.length === 2 ? true : undefined), { timeoutMs: 3000, what: "2 messages" });
    expect(seen).toEqual(["boom", "after"]);
    expect(p.errors.map((e) => (e as ClusterBusError).code)).toEqual(["handler-failed"]);
    sub.unsubscribe();
    await p.b.flush();
    p.a.publish("t.a", "late");
    await p.a.flush();
    await waitFor(() => (other.length === 3 ? true : undefined), { timeoutMs: 3000, what: "3rd message" });
    expect(seen).toEqual(["boom", "after"]);
  });

  it("reconnects after a server restart and delivers again; connected follows the status", async () => {
    const errors: Error[] = [];
    const a = await NatsClusterBus.connect({ servers: nats.url, name: "restart-a", reconnectMinMs: 50, reconnectMaxMs: 200, onError: (e) => errors.push(e) });
    const b = await NatsClusterBus.connect({ servers: nats.url, name: "restart-b", reconnectMinMs: 50, reconnectMaxMs: 200, onError: (e) => errors.push(e) });
    try {
      const got = collect(b, "edgepath.v1.edge.down");
      await b.flush();
      expect(a.connected).toBe(true);
      await nats.restart({
        whileDown: async () => {
          await waitFor(() => (!a.connected && !b.connected ? true : undefined), { timeoutMs: 5000, what: "both buses to see the disconnect" });
        },
      });
      await waitFor(() => (a.connected && b.connected ? true : undefined), { timeoutMs: 10_000, what: "both buses to reconnect" });
      await b.flush(); // resubscription done
      a.publish("edgepath.v1.edge.down", { edge: "10.0.0.1:5060", at: 1 });
      await a.flush();
      await waitFor(() => (got.length === 1 ? true : undefined), { timeoutMs: 3000, what: "delivery after reconnect" });
      expect(got[0]!.json()).toEqual({ edge: "10.0.0.1:5060", at: 1 });
      expect(errors.some((e) => /disconnected/.test(e.message))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  }, 30_000);

  it("close() drains, is idempotent, and later use throws BusError closed (ClusterBus contract)", async () => {
    await using p = await pair();
    const got = collect(p.b, "t.close");
    await p.b.flush();
    p.a.publish("t.close", "last words");
    await p.a.close(); // drain flushes what was published
    await p.a.close();
    expect(p.a.connected).toBe(false);
    await waitFor(() => (got.length === 1 ? true : undefined), { timeoutMs: 3000, what: "message published before close" });
    expect(() => p.a.publish("t.close", "late")).toThrow(BusError);
    expect(() => p.a.subscribe("t.close", () => undefined)).toThrow(/closed/);
    expect(p.errors).toEqual([]);
  });

  it("rejects bad subjects with BusError bad-subject, like InProcessBus", async () => {
    await using p = await pair();
    expect(() => p.a.publish("a.*", "x")).toThrow(expect.objectContaining({ code: "bad-subject" }));
    expect(() => p.a.publish("", "x")).toThrow(BusError);
    expect(() => p.a.subscribe("a.>.b", () => undefined)).toThrow(expect.objectContaining({ code: "bad-subject" }));
  });

  it("authenticates with a token; a wrong token fails to connect", async () => {
    await using secured = await startNats({ token: "s3cret" });
    const bus = await NatsClusterBus.connect({ servers: secured.url, name: "auth", token: "s3cret" });
    expect(bus.connected).toBe(true);
    await bus.close();
    await expect(NatsClusterBus.connect({ servers: secured.url, name: "auth-bad", token: "wrong", connectTimeoutMs: 2000 })).rejects.toThrow(/auth/i);
  });
});
