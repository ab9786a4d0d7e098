import { describe, expect, it } from "vitest";
import { ownedBytes } from "./owned-bytes.js";

describe("ownedBytes", () => {
  it("copies a pool view to a buffer of its own size and returns a buffer that owns its bytes as it is", () => {
    const view = Buffer.from("INVITE sip:bob@example.com SIP/2.0\r\n", "latin1");
    expect(view.buffer.byteLength).toBeGreaterThan(view.length);
    const own = ownedBytes(view);
    expect(own.equals(view)).toBe(true);
    expect(own.buffer.byteLength).toBe(own.length);
    expect(own.byteOffset).toBe(0);
    expect(ownedBytes(own)).toBe(own);
  });
});
