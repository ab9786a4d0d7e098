import { describe, expect, it } from "vitest";
import { allocOutBytes } from "./out-bytes.js";

describe("allocOutBytes (a private slab for outgoing messages)", () => {
  it("hands out views that never overlap, each 8-byte aligned, until the slab is full", () => {
    const views: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const b = allocOutBytes(1 + ((i * 37) % 700));
      b.fill(i & 0xff);
      views.push(b);
    }
    for (let i = 0; i < views.length; i++) {
      const v = views[i]!;
      expect(v.byteOffset % 8).toBe(0);
      // every view still holds its own fill: no later view was cut from the same bytes
      expect(v.every((x) => x === (i & 0xff))).toBe(true);
    }
  });

  it("a message larger than an eighth of the slab gets a buffer of its own", () => {
    const big = allocOutBytes(9000);
    expect(big.length).toBe(9000);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(9000);
  });
});
