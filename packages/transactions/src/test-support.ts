/**
 * Test doubles for unit tests of the transaction layer (not exported from index.ts): a virtual clock, a
 * transport that records sends, a recording TU, and message builders on top of @edgepath/sip.
 */
import { buildResponse, parseMessage } from "@edgepath/sip";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { resolveTimers } from "./timers.js";
import type { TransactionEnvironment } from "./transaction.js";
import type { InviteServerTransaction } from "./invite-server.js";
import type {
  ClientTransaction, ClientTransactionUser, Scheduler, SendOutcome, SendTarget, ServerTransaction,
  ServerTransactionUser, TransactionTimers, TransportSender,
} from "./types.js";

interface FakeTimer { readonly at: number; readonly seq: number; readonly fn: () => void }

/** A virtual clock: timers fire only inside advance(), in time order (ties in creation order). */
export class FakeScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, FakeTimer>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, seq: id, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let next: [number, FakeTimer] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at > until) continue;
        if (next === undefined || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq)) next = entry;
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = until;
  }
}

export interface Sent { readonly at: number; readonly bytes: Buffer; readonly text: string; readonly target: SendTarget }

/** Records every send; UDP is unreliable, everything else reliable (RFC 3261 §18). */
export class FakeSender implements TransportSender {
  readonly sent: Sent[] = [];
  /** Next send fails this way, then sending works again. */
  failNext: "throw" | "result" | undefined;
  readonly #scheduler: Scheduler;

  constructor(scheduler: Scheduler) {
    this.#scheduler = scheduler;
  }

  readonly reliable = (t: SendTarget): boolean => t.transport !== "udp";

  send(bytes: Buffer, target: SendTarget): void | SendOutcome {
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail === "throw") throw new Error("EHOSTUNREACH");
    if (fail === "result") return { ok: false, reason: "flow-gone" };
    this.sent.push({ at: this.#scheduler.now(), bytes, text: bytes.toString("utf8"), target });
    return { ok: true };
  }

  /** Start lines of everything sent, e.g. "INVITE sip:..." or "SIP/2.0 486 Busy Here". */
  startLines(): string[] {
    return this.sent.map((s) => s.text.slice(0, s.text.indexOf("\r\n")));
  }

  times(): number[] {
    return this.sent.map((s) => s.at);
  }
}

export const UDP: SendTarget = { transport: "udp", address: "192.0.2.10", port: 5060 };
export const TCP: SendTarget = { transport: "tcp", address: "192.0.2.10", port: 5060 };

export function env(overrides?: Partial<TransactionTimers>): {
  scheduler: FakeScheduler; sender: FakeSender; env: TransactionEnvironment; terminated: unknown[];
} {
  const scheduler = new FakeScheduler();
  const sender = new FakeSender(scheduler);
  const terminated: unknown[] = [];
  return {
    scheduler, sender, terminated,
    env: { sender, scheduler, timers: resolveTimers(overrides), onTerminated: (tx) => { terminated.push(tx); } },
  };
}

export type ClientEvent =
  | { readonly type: "response"; readonly status: number; readonly state: string }
  | { readonly type: "timeout"; readonly state: string }
  | { readonly type: "transport-error"; readonly code: string; readonly state: string }
  | { readonly type: "terminated" };

export class RecordingClientUser implements ClientTransactionUser {
  readonly events: ClientEvent[] = [];
  readonly errors: Error[] = [];
  onResponse(res: SipResponse, tx: ClientTransaction): void {
    this.events.push({ type: "response", status: res.status, state: tx.state });
  }
  onTimeout(tx: ClientTransaction): void {
    this.events.push({ type: "timeout", state: tx.state });
  }
  onTransportError(tx: ClientTransaction, err: Error): void {
    this.errors.push(err);
    this.events.push({ type: "transport-error", code: (err as Error & { code: string }).code, state: tx.state });
  }
  onTerminated(): void {
    this.events.push({ type: "terminated" });
  }
  types(): string[] {
    return this.events.map((e) => (e.type === "response" ? `response:${e.status}` : e.type));
  }
}

export class RecordingServerUser implements ServerTransactionUser {
  readonly events: string[] = [];
  readonly errors: Error[] = [];
  onTimeout(tx: InviteServerTransaction): void {
    this.events.push(`timeout:${tx.state}`);
  }
  onTransportError(_tx: ServerTransaction, err: Error): void {
    this.errors.push(err);
    this.events.push("transport-error");
  }
  onTerminated(): void {
    this.events.push("terminated");
  }
}

export interface RequestSpec {
  method?: string;
  uri?: string;
  branch?: string | null;
  sentBy?: string;
  cseq?: number;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  routes?: string[];
  extraVia?: boolean;
}

/** Text of a request whose top Via is `sentBy` with `branch` (null: no branch parameter, RFC 2543 style). */
export function requestText(spec: RequestSpec = {}): string {
  const method = spec.method ?? "INVITE";
  const branch = spec.branch === undefined ? "z9hG4bKtop1" : spec.branch;
  const via = `SIP/2.0/UDP ${spec.sentBy ?? "edge1.example.net:5060"}${branch === null ? "" : `;branch=${branch}`}`;
  const cseqMethod = method;
  let s = `${method} ${spec.uri ?? "sip:bob@192.0.2.10:5060;transport=udp"} SIP/2.0\r\n`;
  s += `Via: ${via}\r\n`;
  if (spec.extraVia !== false) s += "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKua1;rport=5062;received=198.51.100.7\r\n";
  for (const r of spec.routes ?? []) s += `Route: ${r}\r\n`;
  s += "Max-Forwards: 69\r\n";
  s += `From: "Alice" <sip:alice@example.com>;tag=${spec.fromTag ?? "a1"}\r\n`;
  s += `To: <sip:bob@example.com>${spec.toTag !== undefined ? `;tag=${spec.toTag}` : ""}\r\n`;
  s += `Call-ID: ${spec.callId ?? "call-1@example.com"}\r\n`;
  s += `CSeq: ${spec.cseq ?? 1} ${cseqMethod}\r\n`;
  s += "Contact: <sip:alice@198.51.100.7:5062>\r\n";
  s += "Content-Length: 0\r\n\r\n";
  return s;
}

export function request(spec: RequestSpec = {}): SipRequest {
  const r = parseMessage(Buffer.from(requestText(spec), "utf8"));
  if (!r.ok) throw r.error;
  if (r.message.kind !== "request") throw new Error("not a request");
  return r.message;
}

export function parse(bytes: Buffer): SipRequest | SipResponse {
  const r = parseMessage(bytes);
  if (!r.ok) throw r.error;
  return r.message;
}

/** A response to `req` as the next hop would send it (all Vias copied, RFC 3261 §8.2.6). */
export function responseTo(req: SipRequest, status: number, toTag = "b7"): SipResponse {
  const m = parse(buildResponse(req, status, undefined, status === 100 ? {} : { toTag }));
  if (m.kind !== "response") throw new Error("not a response");
  return m;
}

/** Response bytes a server TU would pass to its transaction. */
export function responseBytes(req: SipRequest, status: number, toTag = "s9"): Buffer {
  return buildResponse(req, status, undefined, status === 100 ? {} : { toTag });
}
