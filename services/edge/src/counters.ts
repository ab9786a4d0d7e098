/**
 * Plain counters of what the edge did; the service exposes them as Prometheus metrics.
 * Kept as maps of small integers so the hot path does no label formatting.
 */
export class EdgeCounters {
  readonly requests = new Map<string, number>();
  readonly forwards = new Map<string, number>();
  readonly responses = new Map<string, number>();
  readonly rejections = new Map<string, number>();
  readonly drops = new Map<string, number>();

  request(method: string): void {
    bump(this.requests, method);
  }
  forwarded(method: string): void {
    bump(this.forwards, method);
  }
  response(status: number): void {
    bump(this.responses, `${Math.floor(status / 100)}xx`);
  }
  reject(status: number, why: string): void {
    bump(this.rejections, `${status}:${why}`);
  }
  drop(reason: string): void {
    bump(this.drops, reason);
  }
  snapshot(): Record<string, Record<string, number>> {
    return {
      requests: Object.fromEntries(this.requests),
      forwards: Object.fromEntries(this.forwards),
      responses: Object.fromEntries(this.responses),
      rejections: Object.fromEntries(this.rejections),
      drops: Object.fromEntries(this.drops),
    };
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
