import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatSummary, summarizeProfile } from "./profile.js";

const dir = mkdtempSync(join(tmpdir(), "bench-profile-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber, scriptId: "0", columnNumber: 0 });

describe("summarizeProfile", () => {
  it("ranks self time by samples, leaves idle out of the shares, and shortens paths", () => {
    const file = join(dir, "a.cpuprofile");
    const nodes = [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("doSend", "node:dgram", 686) },
      { id: 4, callFrame: frame("encode", "file:///w/packages/flow-token/dist/flow-token.js", 9) },
      { id: 5, callFrame: frame("(garbage collector)") },
    ];
    // 4 idle, 3 doSend, 2 encode, 1 gc; one huge time delta on an encode sample must not matter.
    const samples = [2, 2, 2, 2, 3, 3, 3, 4, 4, 5];
    const timeDeltas = [1000, 1000, 1000, 1000, 1000, 1000, 1000, 900_000, 1000, 1000];
    writeFileSync(file, JSON.stringify({ nodes, startTime: 0, endTime: 1, samples, timeDeltas }));
    const s = summarizeProfile(file, 5);
    expect(s.samples).toBe(10);
    expect(s.busySamples).toBe(6);
    expect(s.gcPercent).toBe(16.7);
    expect(s.top.map((t) => [t.name, t.samples, t.percent])).toEqual([
      ["doSend node:dgram:687", 3, 50],
      ["encode flow-token/flow-token.js:10", 2, 33.3],
      ["(garbage collector)", 1, 16.7],
    ]);
    expect(formatSummary("edge-1", s)).toContain("50%");
  });
});
