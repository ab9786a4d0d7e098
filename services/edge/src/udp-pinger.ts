/**
 * OPTIONS pinging of UDP contacts (DESIGN §3 "registered is not reachable"), the edge's
 * version of Kamailio nathelper's `sipping`.
 *
 * A connection flow tells us when it dies (close/reset); a UDP flow never does. The edge
 * holds the UDP flow, so it is the one to probe it: when a 2xx to a REGISTER goes back to
 * a UA over a UDP flow, the contacts that REGISTER asked for (with the expiry the
 * registrar granted) are remembered per flow token. Every interval each remembered flow
 * gets one OPTIONS, sent over that flow to its most recently registered contact.
 *
 * - RFC 3261 §11: any response to OPTIONS — 200, 404, 405 alike — proves the UA is there.
 *   Answers are consumed here (our own branch prefix), never forwarded.
 * - A flow that answered nothing (no ping response, no REGISTER) for `timeoutMs` is
 *   reported once as failed, reason "ping-timeout" (Subjects.flowFailed): workers mark its
 *   bindings unreachable, so calls to it get 480 at once instead of a Timer B timeout.
 * - Pinging goes on until the bindings expire; a failed flow that answers again is
 *   reported alive (Subjects.flowAlive) with the AORs registered over it, and workers mark
 *   those bindings reachable. A REGISTER refresh makes it alive too (the store already
 *   makes a re-registered binding reachable, so nothing is published).
 * - Bounded: at most `maxFlows` flows (new ones beyond are not pinged, and counted), at
 *   most `maxContactsPerFlow` contacts each, at most `maxPending` REGISTERs awaiting their
 *   response. No timer per flow: one interval timer walks the table.
 *
 * The decisions (what to remember, when a flow failed or recovered) are here; sending and
 * publishing are the delegate's (the EdgeProxy's transport and bus).
 */
import { randomBytes } from "node:crypto";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import type { FlowDescriptor } from "@edgepath/flow-token";

/** Branch prefix of our pings (RFC 3261 §8.1.1.7 magic cookie + "pg"): distinct from relayed requests' `z9hG4bKep`. */
export const PING_BRANCH_PREFIX = "z9hG4bKpg";
export const PING_TIMEOUT_REASON = "ping-timeout";

export interface UdpPingerDelegate {
  /** Sends one datagram over the flow (from the socket the UA talks to); false if it could not be sent. */
  sendPing(bytes: Buffer, flow: FlowDescriptor): boolean;
  /** host:port for our Via sent-by and From on this flow: the public-side address the UA knows us by. */
  sentBy(flow: FlowDescriptor): string;
  /** No answer for the timeout: report the flow failed (reason "ping-timeout"). */
  flowFailed(flowToken: string, aors: readonly string[]): void;
  /** A flow reported failed answers again. */
  flowAlive(flowToken: string, aors: readonly string[]): void;
}

export interface UdpPingerOptions {
  readonly intervalMs: number;
  /** No answer for this long = failed; more than `intervalMs` (checked once per interval). */
  readonly timeoutMs: number;
  readonly delegate: UdpPingerDelegate;
  readonly maxFlows?: number;
  readonly maxContactsPerFlow?: number;
  readonly maxPending?: number;
  readonly now?: () => number;
}

export interface UdpPingerStats {
  pingsSent: number;
  pingsFailedToSend: number;
  answers: number;
  failed: number;
  recovered: number;
  /** New flows not tracked because the table was full. */
  untracked: number;
}

interface TrackedContact {
  readonly aor: string;
  expiresAt: number;
}

interface TrackedFlow {
  readonly flow: FlowDescriptor;
  /** Contact URI -> AOR and expiry. */
  readonly contacts: Map<string, TrackedContact>;
  /** Request-URI of the next ping: the most recently registered contact. */
  target: string;
  /** Epoch ms the UA last showed it is there (ping answered, REGISTER answered 2xx). */
  lastAlive: number;
  failed: boolean;
  /** Branch of the outstanding ping. */
  branch: string | undefined;
  readonly callId: string;
  readonly fromTag: string;
  cseq: number;
}

interface PendingRegister {
  readonly aor: string;
  /** Contact URIs of the REGISTER, or "*" (remove all, RFC 3261 §10.2.2). */
  readonly contacts: readonly string[] | "*";
}

export class UdpPinger {
  readonly stats: UdpPingerStats = { pingsSent: 0, pingsFailedToSend: 0, answers: 0, failed: 0, recovered: 0, untracked: 0 };
  readonly #o: Required<Omit<UdpPingerOptions, "delegate" | "now">>;
  readonly #d: UdpPingerDelegate;
  readonly #now: () => number;
  readonly #flows = new Map<string, TrackedFlow>();
  /** branch -> flow token of the outstanding ping. */
  readonly #pings = new Map<string, string>();
  /** "Call-ID|CSeq" of a REGISTER in flight -> what it asked for. */
  readonly #pending = new Map<string, PendingRegister>();
  /** Unguessable per process; branches and Call-IDs are salt + counter (no crypto per ping). */
  readonly #salt = randomBytes(8).toString("hex");
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: UdpPingerOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError("UdpPinger: intervalMs must be > 0");
    if (!(opts.timeoutMs > opts.intervalMs)) throw new RangeError("UdpPinger: timeoutMs must be more than intervalMs");
    this.#o = {
      intervalMs: opts.intervalMs,
      timeoutMs: opts.timeoutMs,
      maxFlows: opts.maxFlows ?? 100_000,
      maxContactsPerFlow: opts.maxContactsPerFlow ?? 32,
      maxPending: opts.maxPending ?? 10_000,
    };
    this.#d = opts.delegate;
    this.#now = opts.now ?? Date.now;
  }

  /** Flows being pinged. */
  get size(): number {
    return this.#flows.size;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A REGISTER from a UDP flow is being forwarded to its registrar; `aor` is its canonical AOR. */
  noteRegister(req: SipRequest, aor: string): void {
    let contacts: readonly string[] | "*";
    try {
      const c = req.contacts();
      contacts = c === "*" ? "*" : c.map((x) => x.uri);
    } catch {
      return; // the registrar answers 400; nothing to remember
    }
    if (contacts !== "*" && contacts.length === 0) return; // a query (RFC 3261 §10.2.3) changes nothing
    const key = `${req.callId}|${req.cseq().seq}`;
    this.#pending.delete(key);
    if (this.#pending.size >= this.#o.maxPending) {
      // Oldest first (Map order): a REGISTER whose answer never came.
      const oldest = this.#pending.keys().next();
      if (oldest.done !== true) this.#pending.delete(oldest.value);
    }
    this.#pending.set(key, { aor, contacts });
  }

  /**
   * A response to a REGISTER goes back over UDP flow `flow` (token `flowToken`). On 2xx the
   * REGISTER's contacts are tracked with the expiry the registrar granted (RFC 3261 §10.3
   * step 8: the 200 lists every binding with its `expires`); one granted 0 or absent is gone.
   */
  noteRegisterResponse(res: SipResponse, flowToken: string, flow: FlowDescriptor): void {
    if (res.status < 200) return;
    const key = `${res.callId}|${res.cseq().seq}`;
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    this.#pending.delete(key);
    if (res.status >= 300) return;
    const now = this.#now();
    let tracked = this.#flows.get(flowToken);
    if (pending.contacts === "*") {
      if (tracked !== undefined) this.#removeAor(flowToken, tracked, pending.aor);
      return;
    }
    const granted = new Map<string, number>();
    try {
      const listed = res.contacts();
      const fallback = res.expires();
      if (listed !== "*") for (const c of listed) granted.set(c.uri, c.expires ?? fallback ?? 0);
    } catch {
      return; // a 2xx we cannot read: keep what we had
    }
    for (const uri of pending.contacts) {
      const expires = granted.get(uri) ?? 0;
      if (expires <= 0) {
        if (tracked?.contacts.get(uri)?.aor === pending.aor) this.#removeContact(flowToken, tracked, uri);
        continue;
      }
      if (tracked === undefined) {
        if (this.#flows.size >= this.#o.maxFlows) {
          this.stats.untracked++;
          return;
        }
        tracked = {
          flow,
          contacts: new Map(),
          target: uri,
          lastAlive: now,
          failed: false,
          branch: undefined,
          callId: `${this.#salt}-${(++this.#seq).toString(36)}@edgepath`,
          fromTag: `pg${this.#seq.toString(36)}`,
          cseq: 0,
        };
        this.#flows.set(flowToken, tracked);
      }
      const existing = tracked.contacts.get(uri);
      if (existing !== undefined) {
        existing.expiresAt = now + expires * 1000;
        // Most recently registered first for the next ping: re-insert at the end of the Map.
        tracked.contacts.delete(uri);
        tracked.contacts.set(uri, existing);
      } else if (tracked.contacts.size < this.#o.maxContactsPerFlow) {
        tracked.contacts.set(uri, { aor: pending.aor, expiresAt: now + expires * 1000 });
      } else continue;
      tracked.target = uri;
    }
    if (tracked !== undefined && tracked.contacts.size > 0) {
      // The UA just spoke, and the registrar made its re-registered bindings reachable again.
      tracked.lastAlive = now;
      tracked.failed = false;
    }
  }

  /**
   * A response arrived at the edge. True when it answers one of our pings (consumed: never
   * relayed); an answer from anywhere but the pinged flow's address proves nothing and is dropped.
   */
  onResponse(res: SipResponse, from: { readonly remoteAddress: string; readonly remotePort: number }): boolean {
    const branch = res.topVia().branch;
    if (branch === undefined || !branch.startsWith(PING_BRANCH_PREFIX)) return false;
    const token = this.#pings.get(branch);
    if (token === undefined) return true; // late (a newer ping is out) or not ours: nothing to learn
    const f = this.#flows.get(token);
    if (f === undefined || f.flow.remoteAddress !== from.remoteAddress || f.flow.remotePort !== from.remotePort) return true;
    if (res.status >= 200) {
      this.#pings.delete(branch);
      f.branch = undefined;
    }
    this.stats.answers++;
    f.lastAlive = this.#now();
    if (f.failed) {
      f.failed = false;
      this.stats.recovered++;
      this.#d.flowAlive(token, aorsOf(f));
    }
    return true;
  }

  /** One round: forget expired contacts, report silent flows, ping every flow. */
  tick(): void {
    const now = this.#now();
    for (const [token, f] of this.#flows) {
      for (const [uri, c] of f.contacts) if (c.expiresAt <= now) this.#removeContact(token, f, uri);
      if (!this.#flows.has(token)) continue;
      if (!f.failed && now - f.lastAlive >= this.#o.timeoutMs) {
        f.failed = true;
        this.stats.failed++;
        this.#d.flowFailed(token, aorsOf(f));
      }
      this.#ping(token, f);
    }
  }

  #ping(token: string, f: TrackedFlow): void {
    if (f.branch !== undefined) this.#pings.delete(f.branch);
    const branch = `${PING_BRANCH_PREFIX}${this.#salt}${(++this.#seq).toString(36)}`;
    f.branch = branch;
    this.#pings.set(branch, token);
    f.cseq++;
    const sentBy = this.#d.sentBy(f.flow);
    // RFC 3261 §8.1.1: a well-formed request of its own; Max-Forwards 70 (§8.1.1.6). rport
    // (RFC 3581) so the answer comes back to the socket the UA's NAT binding belongs to.
    const text =
      `OPTIONS ${f.target} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${sentBy};branch=${branch};rport\r\n` +
      "Max-Forwards: 70\r\n" +
      `From: <sip:edgepath@${sentBy}>;tag=${f.fromTag}\r\n` +
      `To: <${f.target}>\r\n` +
      `Call-ID: ${f.callId}\r\n` +
      `CSeq: ${f.cseq} OPTIONS\r\n` +
      "Content-Length: 0\r\n\r\n";
    if (this.#d.sendPing(Buffer.from(text, "utf8"), f.flow)) this.stats.pingsSent++;
    else this.stats.pingsFailedToSend++;
  }

  #removeAor(token: string, f: TrackedFlow, aor: string): void {
    for (const [uri, c] of f.contacts) if (c.aor === aor) this.#removeContact(token, f, uri);
  }

  #removeContact(token: string, f: TrackedFlow, uri: string): void {
    f.contacts.delete(uri);
    if (f.contacts.size === 0) {
      if (f.branch !== undefined) this.#pings.delete(f.branch);
      this.#flows.delete(token);
      return;
    }
    if (f.target === uri) {
      let last: string | undefined;
      for (const k of f.contacts.keys()) last = k;
      f.target = last!;
    }
  }
}

function aorsOf(f: TrackedFlow): string[] {
  const out = new Set<string>();
  for (const c of f.contacts.values()) out.add(c.aor);
  return [...out];
}
