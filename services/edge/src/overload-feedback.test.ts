/** OverloadFeedback: pure logic with explicit time and randomness (the e2e test drives it over sockets). */
import { describe, expect, it } from "vitest";
import { OverloadFeedback } from "./overload-feedback.js";

const W = "10.0.0.5:5070";

describe("OverloadFeedback", () => {
  it("nobody signalled: nothing is turned away", () => {
    const f = new OverloadFeedback();
    expect(f.share(W, 0)).toBe(0);
    expect(f.shouldReject(W, 0, 0)).toBe(false);
  });

  it("each signal raises the share by 5%, at most once per 50 ms, up to 90%", () => {
    const f = new OverloadFeedback();
    f.signal(W, 1_000);
    f.signal(W, 1_010); // within 50 ms: no second raise
    expect(f.share(W, 1_010)).toBeCloseTo(0.05);
    for (let t = 1_050; t <= 3_000; t += 50) f.signal(W, t);
    expect(f.share(W, 3_000)).toBeCloseTo(0.9);
    expect(f.shouldReject(W, 3_000, 0.89)).toBe(true);
    expect(f.shouldReject(W, 3_000, 0.91)).toBe(false);
    // only that worker's requests are turned away
    expect(f.shouldReject("10.0.0.6:5070", 3_000, 0)).toBe(false);
  });

  it("without signals the share holds 300 ms, then falls 5% per 100 ms to 0", () => {
    const f = new OverloadFeedback();
    for (let t = 0; t <= 500; t += 50) f.signal(W, t); // 11 raises
    expect(f.share(W, 500)).toBeCloseTo(0.55);
    expect(f.share(W, 800)).toBeCloseTo(0.55);
    expect(f.share(W, 900)).toBeCloseTo(0.5);
    expect(f.share(W, 1_400)).toBeCloseTo(0.25);
    expect(f.share(W, 5_000)).toBe(0);
    // a new signal starts from there
    f.signal(W, 5_000);
    expect(f.share(W, 5_000)).toBeCloseTo(0.05);
  });

  it("rising and falling back one step at a time ends at exactly 0 (no floating-point residue), and the worker is no longer listed", () => {
    const f = new OverloadFeedback();
    // 7 raises: in floating point 7 x (+0.05) then 7 x (-0.05) leaves 1.4e-17, not 0
    for (let t = 0; t <= 300; t += 50) f.signal(W, t);
    expect(f.share(W, 300)).toBeCloseTo(0.35);
    // read every 100 ms while it falls, so each read takes one step off
    for (let t = 700; t <= 1_300; t += 100) f.share(W, t);
    expect(f.share(W, 1_300)).toBe(0);
    expect(f.shouldReject(W, 1_300, 0)).toBe(false);
  });
});
