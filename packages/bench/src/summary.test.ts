/** The bench's step summary (pure logic): what counts as clean, and how it reads against issue 7's targets. */
import { describe, expect, it } from "vitest";
import { isClean, summarizePhase, targetLines, type Step } from "./summary.js";

function step(rate: number, over: Partial<Step> = {}): Step {
  const calls = rate * 5;
  return { rate, calls, successful: calls, failed: 0, retransmissions: 0, achievedPerSec: rate * 0.99, p50: 0, p95: 8, p99: 16, cpuPer1000: {}, ...over };
}

describe("bench summary", () => {
  it("a step is clean only with no failure, every call done, >= 90% of the offered rate and <= 0.1% retransmitted", () => {
    expect(isClean(step(1000))).toBe(true);
    expect(isClean(step(1000, { failed: 1, successful: 4999 }))).toBe(false);
    expect(isClean(step(1000, { achievedPerSec: 899 }))).toBe(false);
    expect(isClean(step(1000, { retransmissions: 5 }))).toBe(true); // 0.1% of 5,000
    expect(isClean(step(1000, { retransmissions: 6 }))).toBe(false);
  });

  it("best clean rate, latency at about half of it, and the target met or not", () => {
    const steps = [step(1000, { p99: 12 }), step(3000, { p99: 28 }), step(6000), step(7000, { achievedPerSec: 6903 }), step(8000, { failed: 10, successful: 39_990 })];
    const r = summarizePhase("REGISTER", steps, 6000);
    expect(r.bestCleanPerSec).toBe(6903);
    expect(r.latencyAtHalf?.rate).toBe(3000); // highest clean step <= 6903 / 2
    expect(r.target).toEqual({ perSec: 6000, met: true, latencyAtHalfTarget: { rate: 3000, p50: 0, p95: 8, p99: 28 } });
    expect(targetLines([r])).toEqual(["issue 7 target REGISTER: 6903/s clean (met: >= 6000/s); p99 28 ms at 3000/s (not met: < 20 ms)"]);
  });

  it("below target, and no clean step at half the target: said so, not invented", () => {
    const r = summarizePhase("MESSAGE", [step(1000, { p99: 12 }), step(4000, { retransmissions: 300 })], 5000);
    expect(r.bestCleanPerSec).toBe(990);
    expect(r.target?.met).toBe(false);
    expect(targetLines([r])).toEqual(["issue 7 target MESSAGE: 990/s clean (not met: >= 5000/s); no clean step at 2500/s, so no p99 there"]);
  });

  it("no target (smoke runs, edge alone): no target line", () => {
    const r = summarizePhase("EDGE-ALONE", [step(2500)], undefined);
    expect(r.target).toBeUndefined();
    expect(targetLines([r])).toEqual([]);
  });
});
