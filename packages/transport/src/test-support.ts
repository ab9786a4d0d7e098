/**
 * Test helpers shared by this package's socket tests (not part of the public API).
 * A recording TransportDelegate whose events can be awaited, so tests wait for events, never sleep.
 */
import type { SipParseError } from "@edgepath/sip";
import type { DropSource, FlowCloseReason, FlowInfo, TlsReloadOutcome, TransportDelegate } from "./types.js";

export type RecordedEvent =
  | { readonly type: "message"; readonly bytes: Buffer; readonly flow: FlowInfo }
  | { readonly type: "stream-error"; readonly error: SipParseError; readonly flow: FlowInfo }
  | { readonly type: "closed"; readonly flow: FlowInfo; readonly reason: FlowCloseReason }
  | { readonly type: "opened"; readonly flow: FlowInfo }
  | { readonly type: "keepalive"; readonly flow: FlowInfo }
  | { readonly type: "drop"; readonly reason: string; readonly flow: FlowInfo | DropSource };

type Waiter = { pred: (e: RecordedEvent) => boolean; resolve: (e: RecordedEvent) => void };

export class RecordingDelegate implements TransportDelegate {
  readonly events: RecordedEvent[] = [];
  /** Optional hook run inside onStreamError (e.g. to answer 400 on the flow). */
  onStreamErrorHook: ((error: SipParseError, flow: FlowInfo) => void) | undefined;
  private waiters: Waiter[] = [];

  onMessage(bytes: Buffer, flow: FlowInfo): void {
    this.record({ type: "message", bytes, flow });
  }
  onStreamError(error: SipParseError, flow: FlowInfo): void {
    this.onStreamErrorHook?.(error, flow);
    this.record({ type: "stream-error", error, flow });
  }
  onFlowClosed(flow: FlowInfo, reason: FlowCloseReason): void {
    this.record({ type: "closed", flow, reason });
  }
  onFlowOpened(flow: FlowInfo): void {
    this.record({ type: "opened", flow });
  }
  onKeepalive(flow: FlowInfo): void {
    this.record({ type: "keepalive", flow });
  }
  onDrop(reason: string, flow: FlowInfo | DropSource): void {
    this.record({ type: "drop", reason, flow });
  }
  /** Certificate reloads, in order. */
  readonly tlsReloads: TlsReloadOutcome[] = [];
  onTlsReload(outcome: TlsReloadOutcome): void {
    this.tlsReloads.push(outcome);
  }

  of<T extends RecordedEvent["type"]>(type: T): Extract<RecordedEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<RecordedEvent, { type: T }> => e.type === type);
  }

  /** The first recorded event (past or future) of `type` matching `pred`; rejects after `timeoutMs`. */
  waitFor<T extends RecordedEvent["type"]>(
    type: T,
    pred: (e: Extract<RecordedEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<Extract<RecordedEvent, { type: T }>> {
    const match = (e: RecordedEvent): e is Extract<RecordedEvent, { type: T }> =>
      e.type === type && pred(e as Extract<RecordedEvent, { type: T }>);
    const found = this.events.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a "${type}" event`));
      }, timeoutMs);
      const waiter: Waiter = {
        pred: match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e as Extract<RecordedEvent, { type: T }>);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private record(e: RecordedEvent): void {
    this.events.push(e);
    const ready = this.waiters.filter((w) => w.pred(e));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(e);
  }
}

/** A minimal well-formed SIP request with Content-Length (mandatory on streams, RFC 3261 §18.3). */
export function sipRequest(callId: string, body = ""): Buffer {
  const b = Buffer.from(body, "utf8");
  return Buffer.concat([
    Buffer.from(
      "OPTIONS sip:edge.example.com SIP/2.0\r\n" +
        "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK" + callId + "\r\n" +
        "Max-Forwards: 70\r\n" +
        "From: <sip:alice@example.com>;tag=1\r\n" +
        "To: <sip:edge.example.com>\r\n" +
        "Call-ID: " + callId + "\r\n" +
        "CSeq: 1 OPTIONS\r\n" +
        "Content-Length: " + b.length + "\r\n\r\n",
      "latin1",
    ),
    b,
  ]);
}
