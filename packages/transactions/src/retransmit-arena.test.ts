/**
 * The retransmission slab (retransmit-arena.ts): copies of bytes a UDP transaction resends until its
 * last RFC 3261 §17 timer, packed one after another.
 */
import { describe, expect, it } from "vitest";
import { keepForRetransmission } from "./retransmit-arena.js";

describe("keepForRetransmission", () => {
  it("copies the bytes: later writes to the source do not change the kept copy", () => {
    const source = Buffer.from("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "latin1");
    const kept = keepForRetransmission(source);
    source.fill(0x78);
    expect(kept.toString("latin1")).toBe("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  });

  it("packs consecutive copies into one 64 KiB slab and starts a new slab when one is full", () => {
    const message = Buffer.alloc(5000, 0x61);
    const first = keepForRetransmission(message);
    const copies = [first];
    while (copies.at(-1)!.buffer === first.buffer) copies.push(keepForRetransmission(message));
    const next = copies.at(-1)!;
    const inFirst = copies.slice(0, -1);
    expect(first.buffer.byteLength).toBe(64 * 1024);
    for (let i = 1; i < inFirst.length; i++) expect(inFirst[i]!.byteOffset).toBe(inFirst[i - 1]!.byteOffset + 5000);
    expect(inFirst.at(-1)!.byteOffset + 5000 + 5000).toBeGreaterThan(64 * 1024); // the next one did not fit
    expect(next.byteOffset).toBe(0);
    expect(next.buffer.byteLength).toBe(64 * 1024);
    expect(copies.every((c) => c.equals(message))).toBe(true);
  });

  it("gives a message over 8 KiB an exact-size buffer of its own (it would waste the rest of a shared slab)", () => {
    const big = Buffer.alloc(9000, 0x62);
    expect(keepForRetransmission(big)).toBe(big); // already owns exactly its bytes
    const view = Buffer.from(Buffer.alloc(20_000, 0x63).buffer, 100, 9000);
    const kept = keepForRetransmission(view);
    expect(kept.equals(view)).toBe(true);
    expect(kept.buffer.byteLength).toBe(9000);
    expect(kept.byteOffset).toBe(0);
  });
});
