/**
 * The benchmark's own smoke run (issue 7): proves the harness works end to end at a low rate —
 * REGISTER, MESSAGE and INVITE+BYE through sipp against the embedded system and against the
 * cluster (redis-server, nats-server, `edgepath edge` and two `edgepath registrar` processes),
 * and the "edge alone" mode, each with zero failed calls.
 * It asserts correctness of the harness, never speed (speed is printed by `pnpm bench`).
 * Needs the build (`pnpm test` runs `tsc -b` first) and sipp, redis-server and nats-server on PATH.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
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

function expectClean(json: Result): void {
  for (const p of json.results) {
    expect(p.steps.length, `${p.phase} ran no step`).toBeGreaterThan(0);
    for (const s of p.steps) {
      expect(s.failed, `${p.phase} failed calls`).toBe(0);
      expect(s.successful, `${p.phase} successful calls`).toBe(s.calls);
    }
  }
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
    expectClean(json);
  });

  it(
    "cluster: Redis + NATS + edge + 2 workers as processes, every phase with zero failed calls, CPU and RSS per process, node flags and logs",
    { timeout: 180_000 },
    async () => {
      const file = join(out, "cluster.json");
      const logs = join(out, "cluster-logs");
      // --node-flags reaches our node processes (V8's --trace-gc prints to their output), --logs keeps that output.
      const r = await runBench(["--smoke", "--out", file, "--node-flags=--trace-gc", "--logs", logs]);
      expect(r.code, r.stdout).toBe(0);
      expect(readdirSync(logs).sort()).toEqual(["edge-1.log", "nats.log", "redis.log", "worker-1.log", "worker-2.log"]);
      for (const name of ["edge-1", "worker-1", "worker-2"]) {
        const log = readFileSync(join(logs, `${name}.log`), "utf8");
        expect(log, name).toContain('"edgepath-ready"');
        expect(log, name).toMatch(/Scavenge|Mark-Compact/);
      }
      const json = JSON.parse(readFileSync(file, "utf8")) as Result & { rssMiB: Record<string, number> };
      expect(json.mode).toBe("cluster");
      expect(json.results.map((p) => p.phase)).toEqual(["REGISTER", "MESSAGE", "INVITE+BYE"]);
      expectClean(json);
      // One RSS figure per process of ours: proves the harness measured the separate processes.
      expect(Object.keys(json.rssMiB).sort()).toEqual(["edge-1", "worker-1", "worker-2"]);
      for (const mib of Object.values(json.rssMiB)) expect(mib).toBeGreaterThan(0);
    },
  );

  it("edge alone: the edge forwards REGISTERs to a worker stand-in with zero failed calls", { timeout: 180_000 }, async () => {
    const file = join(out, "edge-alone.json");
    const r = await runBench(["--edge-alone", "--smoke", "--out", file]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/messages\/s forwarded by the edge/);
    const json = JSON.parse(readFileSync(file, "utf8")) as Result;
    expect(json.mode).toBe("edge-alone");
    expect(json.results.map((p) => p.phase)).toEqual(["EDGE-ALONE"]);
    expectClean(json);
  });
});
