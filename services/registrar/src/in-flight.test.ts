import { describe, expect, it } from "vitest";
import { InFlight } from "./in-flight.js";

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("InFlight", () => {
  it("settles at once when nothing is in flight", async () => {
    const f = new InFlight();
    expect(f.size).toBe(0);
    await expect(f.settled()).resolves.toBeUndefined();
  });

  it("counts work until it settles, a rejected one too (the rejection stays the caller's)", async () => {
    const f = new InFlight();
    const a = deferred();
    const b = deferred();
    f.track(a.promise);
    f.track(b.promise);
    expect(f.size).toBe(2);
    b.reject(new Error("store down"));
    await b.promise.catch(() => undefined);
    await tick();
    expect(f.size).toBe(1);
    a.resolve();
    await tick();
    expect(f.size).toBe(0);
  });

  it("settled() waits for work started while it waits, as a graceful stop needs", async () => {
    const f = new InFlight();
    const first = deferred();
    const second = deferred();
    f.track(first.promise);
    let settled = false;
    const waiting = f.settled().then(() => {
      settled = true;
    });
    f.track(second.promise);
    first.resolve();
    await tick();
    expect(settled).toBe(false);
    second.resolve();
    await waiting;
    expect(settled).toBe(true);
    expect(f.size).toBe(0);
  });
});
