import { describe, expect, it } from "vitest";
import { ByteSlab } from "./byte-slab.js";

describe("ByteSlab", () => {
  it("hands out consecutive views of one slab, and starts a new slab when the next does not fit", () => {
    const slab = new ByteSlab(1024, 512);
    const a = slab.take(300);
    const b = slab.take(300);
    const c = slab.take(300);
    const d = slab.take(300); // 1200 > 1024: a new slab
    expect(a.buffer).toBe(b.buffer);
    expect(b.buffer).toBe(c.buffer);
    expect([a.byteOffset, b.byteOffset, c.byteOffset]).toEqual([0, 300, 600]);
    expect(a.buffer.byteLength).toBe(1024);
    expect(d.buffer).not.toBe(a.buffer);
    expect(d.byteOffset).toBe(0);
    // views never overlap: writing one leaves its neighbours alone
    a.fill(0x61);
    b.fill(0x62);
    c.fill(0x63);
    expect(a.every((x) => x === 0x61) && b.every((x) => x === 0x62) && c.every((x) => x === 0x63)).toBe(true);
  });

  it("gives a request over largestShared a buffer of exactly its size, and leaves the shared slab where it was", () => {
    const slab = new ByteSlab(1024, 512);
    const small = slab.take(100);
    const big = slab.take(513);
    expect(big.length).toBe(513);
    expect(big.buffer.byteLength).toBe(513);
    expect(big.byteOffset).toBe(0);
    const next = slab.take(100);
    expect(next.buffer).toBe(small.buffer);
    expect(next.byteOffset).toBe(100);
  });

  it("refuses a largestShared outside 1..slabBytes, naming both", () => {
    expect(() => new ByteSlab(1024, 2048)).toThrow(/largestShared 2048 must be in 1\.\.slabBytes \(1024\)/);
    expect(() => new ByteSlab(1024, 0)).toThrow(RangeError);
  });
});

describe("ByteSlab views", () => {
  it("are real Buffers: Buffer.isBuffer, Buffer's prototype and constructor, and Buffer methods on the view's bytes only", () => {
    const slab = new ByteSlab(256, 128);
    slab.take(10);
    const view = slab.take(5);
    expect(Buffer.isBuffer(view)).toBe(true);
    expect(Object.getPrototypeOf(view)).toBe(Buffer.prototype);
    expect(view.constructor).toBe(Buffer);
    expect(view.write("hello", 0, "latin1")).toBe(5);
    expect(view.toString("latin1")).toBe("hello");
    expect(Buffer.isBuffer(view.subarray(1, 3))).toBe(true);
    expect(view.subarray(1, 3).toString("latin1")).toBe("el");
    expect(view.equals(Buffer.from("hello"))).toBe(true);
    expect(new Uint8Array(view.buffer, 10, 5)).toEqual(new Uint8Array(Buffer.from("hello")));
  });
});
