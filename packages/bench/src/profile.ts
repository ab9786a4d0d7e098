/**
 * Reads V8 `.cpuprofile` files (`node --cpu-prof`) and ranks functions by self time — the
 * view that says where the CPU actually went, not who called it.
 *
 * Shares are of *samples*, not of the samples' time deltas: on a loaded machine the profiled
 * thread is descheduled for tens of ms at a time and the next sample carries that whole gap,
 * which would crown whatever happened to run next. Sample counts are what the profiler saw
 * the CPU doing; ms = samples x the mean sampling interval.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  /** `function (file:line)`, with the path shortened to the package / module. */
  readonly name: string;
  readonly samples: number;
  /** Share of the busy (not idle) samples, in percent. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly samples: number;
  /** Samples not `(idle)`. */
  readonly busySamples: number;
  /** Share of busy samples in the garbage collector, percent. */
  readonly gcPercent: number;
  readonly top: SelfTime[];
}

export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  let idle = 0;
  let gc = 0;
  for (const id of samples) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const name = frameName(node);
    if (name === "(idle)") idle++;
    if (name === "(garbage collector)") gc++;
    self.set(name, (self.get(name) ?? 0) + 1);
  }
  const busy = samples.length - idle;
  const pct = (n: number): number => (busy > 0 ? Math.round((n / busy) * 1000) / 10 : 0);
  const top = [...self.entries()]
    .filter(([n]) => n !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, n]) => ({ name, samples: n, percent: pct(n) }));
  return { samples: samples.length, busySamples: busy, gcPercent: pct(gc), top };
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  if (f.url === "") return f.functionName === "" ? "(anonymous)" : f.functionName;
  const url = f.url.replace(/^file:\/\//, "");
  const m = /(?:packages|services)\/([^/]+)\/(?:dist|src)\/(.+)$/.exec(url) ?? /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(url);
  const where = m !== null ? `${m[1]}/${m[2]}` : url.replace(/^node:/, "node:");
  return `${f.functionName === "" ? "(anonymous)" : f.functionName} ${where}:${f.lineNumber + 1}`;
}

export function formatSummary(name: string, s: ProfileSummary): string {
  const lines = [`cpu profile ${name}: ${s.samples} samples, ${s.busySamples} busy, gc ${s.gcPercent}% of busy; top self time (% of busy samples):`];
  for (const t of s.top) lines.push(`  ${String(t.percent).padStart(5)}%  ${String(t.samples).padStart(7)}  ${t.name}`);
  return lines.join("\n");
}
