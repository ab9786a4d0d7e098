/** The overload-control stamp an edge puts on requests towards a worker (overload.ts). */
import { describe, expect, it } from "vitest";
import { edgeSentAtValue, monotonicEpochMs, overloadRetryAfter, parseEdgeSentAt } from "./overload.js";

describe("edge sent-at stamp", () => {
  it("is `<clock id>.<ms>` on a clock near the epoch that does not go backwards, and reads back", () => {
    const before = monotonicEpochMs();
    const v = edgeSentAtValue();
    const parsed = parseEdgeSentAt(v);
    expect(parsed).toBeDefined();
    expect(parsed!.clock).toMatch(/^[0-9a-f]{8}$/);
    expect(parsed!.ms).toBeGreaterThanOrEqual(before);
    expect(Math.abs(parsed!.ms - Date.now())).toBeLessThan(60_000); // near the wall clock at start
    // one id per process: the same in every stamp
    expect(parseEdgeSentAt(edgeSentAtValue())!.clock).toBe(parsed!.clock);
  });

  it("anything else is not a stamp (nothing is measured from it)", () => {
    for (const bad of ["", "1796578620595", ".1796578620595", "abc.", "abc.12x", "abc.-5", "abc.1e3", `${"a".repeat(17)}.5`, "abc.99999999999999999999"]) {
      expect(parseEdgeSentAt(bad), bad).toBeUndefined();
    }
  });

  it("Retry-After is spread over 1..5 s", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(overloadRetryAfter());
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
