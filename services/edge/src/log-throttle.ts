/**
 * Logs about dropped or rejected traffic must say what happened and why, but a flood of
 * garbage must not become a flood of log lines (DESIGN §6: "logged once per source per
 * interval"). `allow(key)` is true for the first event of a key in each interval and
 * reports how many were suppressed since the last line. Bounded: past `maxKeys` distinct
 * keys in one interval, everything else in that interval is suppressed under one key.
 */
const OVERFLOW = "(overflow)";

export class LogThrottle {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: suppress this line. A number: log it, with that many suppressed before it. */
  allow(key: string): number | undefined {
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry !== undefined && entry.until > t) {
      entry.suppressed++;
      return undefined;
    }
    if (entry === undefined && key !== OVERFLOW && this.seen.size >= this.maxKeys) {
      this.sweep(t);
      if (this.seen.size >= this.maxKeys) return this.allow(OVERFLOW);
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.set(key, { until: t + this.intervalMs, suppressed: 0 });
    return suppressed;
  }

  private sweep(t: number): void {
    for (const [k, v] of this.seen) if (v.until <= t) this.seen.delete(k);
  }
}
