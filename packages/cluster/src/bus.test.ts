import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BusError, InProcessBus, encodePayload, isValidPattern, isValidSubject, subjectMatches, type BusMessage } from "./bus.js";

const text = (m: BusMessage): string => new TextDecoder().decode(m.data);

describe("subjects and patterns (NATS rules)", () => {
  it("validates publish subjects: tokens, no wildcards, no blanks", () => {
    expect(isValidSubject("edgepath.v1.flow.failed")).toBe(true);
    for (const bad of ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a*b", "x.>y"]) expect(isValidSubject(bad), bad).toBe(false);
  });

  it("validates patterns: * anywhere, > only as the last token", () => {
    expect(isValidPattern("a.*.c")).toBe(true);
    expect(isValidPattern("a.>")).toBe(true);
    expect(isValidPattern(">")).toBe(true);
    expect(isValidPattern("a.>.c")).toBe(false);
    expect(isValidPattern("a.b*")).toBe(false);
  });

  it("matches * as exactly one token and > as one or more trailing tokens", () => {
    expect(subjectMatches("a.*.c", "a.b.c")).toBe(true);
    expect(subjectMatches("a.*.c", "a.b.x.c")).toBe(false);
    expect(subjectMatches("a.*", "a")).toBe(false);
    expect(subjectMatches("a.>", "a.b")).toBe(true);
    expect(subjectMatches("a.>", "a.b.c.d")).toBe(true);
    expect(subjectMatches("a.>", "a")).toBe(false);
    expect(subjectMatches("a.b", "a.b.c")).toBe(false);
    expect(subjectMatches("a.b.c", "a.b")).toBe(false);
  });

  it("a subject always matches itself, > at its first token and * per token (property)", () => {
    const token = fc.stringMatching(/^[a-z0-9_-]{1,6}$/);
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 6 }), (tokens) => {
        const s = tokens.join(".");
        expect(subjectMatches(s, s)).toBe(true);
        expect(subjectMatches(">", s)).toBe(true);
        expect(subjectMatches(tokens.map(() => "*").join("."), s)).toBe(true);
        expect(subjectMatches([...tokens, "*"].join("."), s)).toBe(false);
      }),
    );
  });

  it("encodes objects as JSON and copies byte payloads", () => {
    const buf = new Uint8Array([1, 2, 3]);
    const out = encodePayload(buf);
    buf[0] = 9;
    expect([...out]).toEqual([1, 2, 3]);
    expect(new TextDecoder().decode(encodePayload({ a: 1 }))).toBe('{"a":1}');
  });
});

describe("InProcessBus", () => {
  it("delivers to exact and wildcard subscribers, asynchronously, with headers and JSON", async () => {
    const bus = new InProcessBus();
    const got: string[] = [];
    bus.subscribe("edgepath.v1.flow.failed", (m) => got.push(`exact:${m.json<{ n: number }>().n}:${m.headers.get("traceparent") ?? "-"}`));
    bus.subscribe("edgepath.v1.*.failed", (m) => got.push(`star:${text(m)}`));
    bus.subscribe("edgepath.>", (m) => got.push(`tail:${m.subject}`));
    bus.subscribe("other.>", () => got.push("wrong"));
    bus.publish("edgepath.v1.flow.failed", { n: 1 }, { traceparent: "00-abc" });
    expect(got).toEqual([]); // not synchronous: a publisher never re-enters its own handlers
    await bus.flush();
    expect(got).toEqual(["exact:1:00-abc", 'star:{"n":1}', "tail:edgepath.v1.flow.failed"]);
  });

  it("keeps global publish order, including messages published from handlers", async () => {
    const bus = new InProcessBus();
    const seen: string[] = [];
    bus.subscribe("a", (m) => {
      seen.push(`a${text(m)}`);
      if (text(m) === "1") bus.publish("b", "from-handler");
    });
    bus.subscribe("b", (m) => seen.push(`b:${text(m)}`));
    bus.publish("a", "1");
    bus.publish("a", "2");
    bus.publish("b", "direct");
    await bus.flush();
    // The handler's publish is queued after everything already published.
    expect(seen).toEqual(["a1", "a2", "b:direct", "b:from-handler"]);
  });

  it("does not deliver to a subscription removed before delivery", async () => {
    const bus = new InProcessBus();
    let n = 0;
    const sub = bus.subscribe("x", () => n++);
    bus.publish("x", "1");
    sub.unsubscribe();
    await bus.flush();
    expect(n).toBe(0);
  });

  it("a throwing handler is reported and does not stop the others", async () => {
    const errors: string[] = [];
    const bus = new InProcessBus({ onHandlerError: (err, subject) => errors.push(`${subject}:${(err as Error).message}`) });
    let ok = 0;
    bus.subscribe("x", () => {
      throw new Error("boom");
    });
    bus.subscribe("x", () => ok++);
    bus.publish("x", "1");
    await bus.flush();
    expect(errors).toEqual(["x:boom"]);
    expect(ok).toBe(1);
  });

  it("rejects bad subjects and use after close with typed BusError codes", async () => {
    const bus = new InProcessBus();
    expect(() => bus.publish("a.*", "x")).toThrow(expect.objectContaining({ name: "BusError", code: "bad-subject" }));
    expect(() => bus.subscribe("a.>.b", () => undefined)).toThrow(BusError);
    let delivered = 0;
    bus.subscribe("y", () => delivered++);
    bus.publish("y", "before-close");
    await bus.close();
    expect(delivered).toBe(1); // close() flushes what was already published
    expect(bus.connected).toBe(false);
    expect(() => bus.publish("y", "x")).toThrow(expect.objectContaining({ code: "closed" }));
    expect(() => bus.subscribe("y", () => undefined)).toThrow(expect.objectContaining({ code: "closed" }));
  });

  it("flush() resolves at once when idle", async () => {
    const bus = new InProcessBus();
    await expect(bus.flush()).resolves.toBeUndefined();
  });
});
