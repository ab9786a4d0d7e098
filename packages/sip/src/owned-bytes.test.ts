import { describe, expect, it } from "vitest";
import { ownedBytes, ownedString } from "./owned-bytes.js";

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

describe("ownedString", () => {
  // Whether V8 keeps a view of the parent is not observable from JS; what callers rely on is an
  // equal string (used as a Map key, compared with ===).
  it("returns a string equal to its input, also for a slice of a larger text and the empty string", () => {
    const text = "MESSAGE sip:bob@example.com SIP/2.0\r\nTo: <sip:bob@example.com>\r\n";
    const aor = text.slice(8, 27);
    expect(ownedString(aor)).toBe("sip:bob@example.com");
    expect(new Map([[ownedString(aor), 1]]).get(aor)).toBe(1);
    expect(ownedString("")).toBe("");
  });

  it("keeps every character: latin1 above U+007F, and text a latin1 copy cannot carry (U+20AC, an emoji, a lone surrogate)", () => {
    const latin1 = "sip:j\u00fcrgen@example.com;tag=\u00ff\u0080";
    expect(ownedString(`x${latin1}`.slice(1))).toBe(latin1);
    for (const wide of ["sip:euro\u20ac@example.com", "From: \"\u{1F600}\" <sip:a@example.com>", "lone \ud800 surrogate here"]) {
      expect(ownedString(`x${wide}`.slice(1))).toBe(wide);
    }
  });
});
