/**
 * Admission control for inbound stream connections (DESIGN §6: "TCP connections per IP").
 * Counts live connections in total and per source IP; a connection is admitted only when both
 * counts are under their caps, and must be released exactly once when it closes.
 */
export type AdmitResult = "ok" | "total" | "per-ip";

export class ConnectionLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerIp: number,
  ) {}

  /** Count a new connection from `ip` if allowed. */
  tryAcquire(ip: string): AdmitResult {
    if (this.total >= this.maxTotal) return "total";
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return "per-ip";
    this.perIp.set(ip, n + 1);
    this.total++;
    return "ok";
  }

  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
    this.total--;
  }

  get count(): number {
    return this.total;
  }

  countFor(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
}
