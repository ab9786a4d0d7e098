/**
 * The benchmark's own smoke run (issue 7): proves the harness works end to end at a low rate —
 * REGISTER, MESSAGE and INVITE+BYE through sipp against the embedded system with zero failed calls.
 * It asserts correctness of the harness, never speed (speed is printed by `pnpm bench`).
 * Needs the build (`pnpm test` runs `tsc -b` first) and sipp on PATH.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
const out = mkdtempSync(join(tmpdir(), "edgepath-bench-smoke-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Result {
  mode: string;
  results: Array<{ phase: string; steps: Array<{ calls: number; successful: number; failed: number }> }>;
}

function runBench(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [join(root, "packages/bench/dist/main.js"), ...args], { timeout: 170_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolvePromise({ code, stdout: `${stdout}\n${stderr}` });
    });
  });
}

describe("pnpm bench --smoke", () => {
  it("embedded: every phase runs with zero failed calls and writes its JSON result", { timeout: 180_000 }, async () => {
    const file = join(out, "embedded.json");
    const r = await runBench(["--embedded", "--smoke", "--out", file]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/REGISTER\s+\d+/);
    const json = JSON.parse(readFileSync(file, "utf8")) as Result;
    expect(json.mode).toBe("embedded");
    expect(json.results.map((p) => p.phase)).toEqual(["REGISTER", "MESSAGE", "INVITE+BYE"]);
    for (const p of json.results) {
      for (const s of p.steps) {
        expect(s.failed, `${p.phase} failed calls`).toBe(0);
        expect(s.successful, `${p.phase} successful calls`).toBe(s.calls);
      }
    }
  });
});
