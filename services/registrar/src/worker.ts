/**
 * A registrar worker (DESIGN §2): one internal SIP socket that edges forward to, the §10.3
 * registrar for REGISTER, the §16 location proxy for everything else, a heartbeat so edges put
 * it on the ring, and the cluster events that keep "registered" honest about "reachable"
 * (DESIGN §3: a failed flow or a dead edge marks bindings unreachable at once).
 *
 * Workers only ever talk to edges (and edges to phones), so the worker's socket is the internal
 * UDP transport; responses go back by Via (RFC 3261 §18.2.2, RFC 3581 rport).
 */
import type { Logger } from "pino";
import { buildResponse, generateTag, parseMessage, ServedDomains, SipParseError } from "@edgepath/sip";
import type { SipRequest, SipResponse } from "@edgepath/sip";
import { TransportLayer } from "@edgepath/transport";
import type { FlowInfo, SendTarget as TransportTarget } from "@edgepath/transport";
import { TransactionLayer } from "@edgepath/transactions";
import type { SendOutcome, SendTarget, ServerTransaction, ServerTransactionUser } from "@edgepath/transactions";
import { EDGE_DOWN_REASON, type BindingStore } from "@edgepath/bindings";
import { Heartbeater, Subjects } from "@edgepath/cluster";
import type { BusMessage, ClusterBus, EdgeDown, EdgeUp, FlowFailed, Subscription } from "@edgepath/cluster";
import { EDGE_SENT_AT_HEADER, monotonicEpochMs, overloadRetryAfter, parseEdgeSentAt } from "@edgepath/cluster";
import type { FlowTokenCodec } from "@edgepath/flow-token";
import { handleRegister } from "./register.js";
import type { RegisterContext, RegistrarSettings } from "./register.js";
import { LocationProxy } from "./location-proxy.js";
import type { LocationProxyOptions } from "./location-proxy.js";
import { formatHostPort, responseTarget } from "./targets.js";
import { InFlight } from "./in-flight.js";
import { QueueDelayGuard } from "./overload.js";
import { busTraceHeaders, contextFromBusHeaders, contextFromTraceHeader, endSipSpan, SipAttr, SpanKind, startSpan, traceAsyncMethods, TRACE_HEADER, tracingEnabled, withSpan, type Span } from "@edgepath/telemetry";

/**
 * A draining worker keeps serving until no new request has arrived for this long: edges go on
 * sending until they see its leave on the bus, which on a loaded node can take longer than any
 * fixed pause (the shutdown e2e test saw 180 ms on loopback).
 */
const DRAIN_GRACE_MS = 250;

export interface RegistrarWorkerOptions {
  /** Member id on the ring; stable per process. */
  readonly id: string;
  /** Internal SIP socket (UDP). Port 0 = any. */
  readonly listen: { readonly host: string; readonly port: number };
  /** host:port edges use to reach us (a pod IP); default: the bound address. */
  readonly advertise?: string;
  readonly domains: readonly string[];
  /** EDGEPATH_DOMAIN_ALIASES: other hosts that name one of `domains` (alias -> domain). */
  readonly domainAliases?: ReadonlyMap<string, string>;
  readonly store: BindingStore;
  readonly bus: ClusterBus;
  readonly flowTokens: FlowTokenCodec;
  readonly logger: Logger;
  readonly settings: RegistrarSettings;
  /** Heartbeat interval; edges drop a worker after 3 missed beats. */
  readonly heartbeatMs?: number;
  /** Optional §10.3 steps 3-4 hook (digest auth). */
  readonly authorize?: RegisterContext["authorize"];
  /** Optional hook for initial non-REGISTER requests (digest 407 / 403, DESIGN §6). */
  readonly authorizeRequest?: LocationProxyOptions["authorize"];
  /** RFC 3261 §22.3: realms whose Proxy-Authorization the location proxy strips; default the domains. */
  readonly realms?: ReadonlySet<string>;
  /** Called with every REGISTER outcome (metrics); `elapsedMs` = request received -> final response sent. */
  readonly onRegister?: (status: number, step: string | undefined, elapsedMs: number) => void;
  /**
   * Called once per initial non-REGISTER request with the final response the location proxy sent
   * for it and the time from request received to that response (metrics).
   */
  readonly onProxyFinal?: (method: string, status: number, elapsedMs: number) => void;
  /** Bound on graceful stop: transactions still open after this are aborted. */
  readonly drainTimeoutMs?: number;
  /**
   * Overload control (overload.ts): an initial request that queued longer than this on its way
   * from the edge is answered 500 + Retry-After at once, ms; 0 = off. Default 200.
   */
  readonly queueDelayTargetMs?: number;
}

export interface RegistrarWorkerStats {
  registers: number;
  registerRejected: number;
  unparsable: number;
  storeErrors: number;
  markedUnreachable: number;
  /** Initial requests refused (500 + Retry-After) because they queued too long (overload control). */
  overloadShed: number;
}

/** Default of RegistrarWorkerOptions.queueDelayTargetMs: well under T1 (500 ms), so the answer beats the UA's first retransmission. */
export const DEFAULT_QUEUE_DELAY_TARGET_MS = 200;

export class RegistrarWorker {
  readonly stats: RegistrarWorkerStats = { registers: 0, registerRejected: 0, unparsable: 0, storeErrors: 0, markedUnreachable: 0, overloadShed: 0 };
  readonly #o: RegistrarWorkerOptions;
  readonly #domains: ServedDomains;
  readonly #log: Logger;
  #transport: TransportLayer | undefined;
  #transactions: TransactionLayer | undefined;
  #proxy: LocationProxy | undefined;
  #heartbeat: Heartbeater | undefined;
  #subs: Subscription[] = [];
  #sipAddress = "";
  #draining = false;
  /** performance.now() of the last new server transaction (drain waits for quiet). */
  #lastRequestAt = 0;
  /** REGISTERs being written and bus-driven store updates (see InFlight: not a Set of promises). */
  readonly #pending = new InFlight();
  readonly #guard: QueueDelayGuard;
  /** Date.now() of the last overload log line (one per second at most while shedding) */
  #shedLoggedAt = 0;

  constructor(opts: RegistrarWorkerOptions) {
    // DESIGN §5: with tracing on, every store call (one Redis round trip each) is a child span.
    this.#o = tracingEnabled()
      ? { ...opts, store: traceAsyncMethods(opts.store, "bindings", ["register", "lookup", "markUnreachable", "markReachable"], { "edgepath.store": opts.store.constructor.name }) }
      : opts;
    this.#domains = new ServedDomains(opts.domains, opts.domainAliases ?? []);
    this.#log = opts.logger;
    this.#guard = new QueueDelayGuard(opts.queueDelayTargetMs ?? DEFAULT_QUEUE_DELAY_TARGET_MS);
  }

  get id(): string {
    return this.#o.id;
  }

  /** host:port of the internal SIP socket as advertised to edges. */
  get sipAddress(): string {
    return this.#sipAddress;
  }

  get proxy(): LocationProxy | undefined {
    return this.#proxy;
  }

  /** Live transactions (metrics, drain). */
  get openTransactions(): number {
    return this.#transactions?.size() ?? 0;
  }

  async start(): Promise<{ sipAddress: string }> {
    const transport = new TransportLayer({
      listen: [{ transport: "udp", host: this.#o.listen.host, port: this.#o.listen.port }],
      delegate: {
        onMessage: (bytes, flow) => this.#onMessage(bytes, flow),
        onDrop: (reason, where) => this.#log.debug({ reason, from: `${where.remoteAddress}:${where.remotePort}` }, "dropped"),
      },
    });
    const bound = await transport.start();
    const l = bound[0];
    if (l === undefined) throw new Error("registrar: internal UDP listener did not bind");
    this.#transport = transport;
    this.#sipAddress = this.#o.advertise ?? formatHostPort(l.host, l.port);
    const [selfHost, selfPort] = splitHostPort(this.#sipAddress);

    const send = (bytes: Buffer, target: SendTarget): SendOutcome => {
      const r = transport.send(bytes, target as TransportTarget);
      return r.ok ? { ok: true } : { ok: false, reason: r.reason };
    };
    const onProxyFinal = this.#o.onProxyFinal;
    this.#transactions = new TransactionLayer({
      sender: { send, reliable: (t) => t.transport !== "udp" },
      ...(onProxyFinal !== undefined ? { serverUser: proxyFinalObserver(onProxyFinal) } : {}),
    });
    this.#proxy = new LocationProxy({
      transactions: this.#transactions,
      store: this.#o.store,
      domains: this.#domains,
      self: { host: selfHost, port: selfPort },
      logger: this.#log,
      sendStateless: (bytes, target) => send(bytes, target).ok,
      ...(this.#o.authorizeRequest !== undefined ? { authorize: this.#o.authorizeRequest } : {}),
      ...(this.#o.realms !== undefined ? { realms: this.#o.realms } : {}),
    });

    // DESIGN §3: flow-failed and edge-down events make bindings unreachable at once; edge-up
    // (the edge's process is back or was replaced in place) settles what that means for its
    // flows. Every worker hears them; marking is idempotent, so the shared store converges
    // whoever wins, and each worker's cache drops what changed.
    this.#subs.push(
      this.#o.bus.subscribe(Subjects.flowFailed, (m) => this.#onFlowFailed(m)),
      this.#o.bus.subscribe(Subjects.edgeDown, (m) => this.#onEdgeDown(m)),
      this.#o.bus.subscribe(Subjects.edgeUp, (m) => this.#onEdgeUp(m)),
    );
    this.#heartbeat = new Heartbeater(
      this.#o.bus,
      { id: this.#o.id, role: "worker", sipAddress: this.#sipAddress, startedAt: Date.now() },
      this.#o.heartbeatMs ?? 1000,
    );
    this.#heartbeat.start();
    this.#log.info({ sip: this.#sipAddress }, "registrar worker started");
    return { sipAddress: this.#sipAddress };
  }

  /**
   * DESIGN §5: a graceful stop leaves the ring first (draining heartbeat, then leave), keeps
   * serving what edges still send during the switch-over, finishes open transactions, then closes.
   */
  async stop(opts: { graceful: boolean }): Promise<void> {
    if (this.#transport === undefined) return;
    if (opts.graceful) {
      this.#draining = true;
      this.#heartbeat?.setDraining(true);
      this.#heartbeat?.stop(true);
      // Edges drop us from the ring on the leave message; requests already on the wire still
      // arrive for a moment and are served. Then wait for what is open: REGISTERs being written
      // and proxied requests without a final response. Completed UDP transactions that only
      // absorb retransmissions (Timer J/I, up to 32 s) are not waited for.
      const deadline = Date.now() + (this.#o.drainTimeoutMs ?? 5000);
      this.#lastRequestAt = performance.now();
      while (
        Date.now() < deadline &&
        (performance.now() - this.#lastRequestAt < DRAIN_GRACE_MS || this.#pending.size > 0 || (this.#proxy?.openContexts ?? 0) > 0)
      ) {
        await sleep(20);
      }
    } else {
      this.#heartbeat?.stop(false);
    }
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
    this.#transactions?.stop();
    await this.#transport.stop();
    this.#transport = undefined;
    this.#log.info({ graceful: opts.graceful }, "registrar worker stopped");
  }

  get draining(): boolean {
    return this.#draining;
  }

  #onMessage(bytes: Buffer, flow: FlowInfo): void {
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      // Edges only forward what parsed for them; this is a bug or a stray sender. Count, log, drop.
      this.stats.unparsable++;
      this.#log.warn({ from: `${flow.remoteAddress}:${flow.remotePort}`, err: parsed.error.message }, "unparsable message dropped");
      return;
    }
    const msg = parsed.message;
    try {
      if (msg.kind === "response") this.#onResponse(msg);
      else this.#onRequest(msg, flow);
    } catch (err) {
      // A malformed header only found by an accessor: answer 400 when we can, never crash.
      this.stats.unparsable++;
      this.#log.warn({ err: err instanceof Error ? err.message : String(err), from: `${flow.remoteAddress}:${flow.remotePort}` }, "message rejected");
      if (msg.kind === "request" && msg.method !== "ACK") this.#statelessReply(msg, flow, 400, "Bad Request");
    }
  }

  #onResponse(res: SipResponse): void {
    const tx = this.#transactions!;
    if (tx.handleResponse(res).kind === "stray") this.#proxy!.handleStrayResponse(res);
  }

  #onRequest(req: SipRequest, flow: FlowInfo): void {
    // From and To are parsed when first read (@edgepath/sip, RFC 3261 §16.3): read them before any
    // transaction exists, so a malformed one is answered statelessly by #onMessage (the edges read
    // them first, so only a stray sender gets here with one) rather than from a half-made transaction
    req.from();
    req.to();
    const source = responseTarget(req.topVia(), flow);
    const d = this.#transactions!.handleRequest(req, source);
    const late = this.#queuedTooLong(req);
    switch (d.kind) {
      case "new": {
        this.#lastRequestAt = performance.now();
        if (late && req.toTag() === undefined) {
          this.#shed(req, d.tx, this.#lastRequestAt);
          return;
        }
        // DESIGN §5: the worker continues the edge's trace (only edges reach this internal socket).
        const span = tracingEnabled() ? this.#startSpan(req) : undefined;
        try {
          withSpan(span, () => {
            if (req.method === "REGISTER") this.#register(req, d.tx, span);
            else {
              this.#proxy!.handleRequest(req, d.tx, span);
            }
          });
        } catch (err) {
          // A malformed header first read by the registrar or proxy (SipParseError from an accessor).
          // The server transaction exists now, so the 400 goes through it: it then absorbs and answers
          // retransmissions and terminates (Timer J / Completed, §17.2); a stateless reply would leave
          // it in Trying for good (no timer runs there) and retransmissions unanswered.
          this.#failNewRequest(req, d.tx, err);
          endSipSpan(span, 400, "bad request");
        }
        return;
      }
      case "cancel":
        this.#proxy!.handleCancel(d.tx, d.inviteTx);
        return;
      case "ack-for-2xx":
        this.#proxy!.handleAck(req);
        return;
      case "stray-cancel":
        // §16.10 would forward it statelessly; a worker is never a UAS, so the only honest answer is 481.
        this.#statelessReply(req, flow, 481, "Call/Transaction Does Not Exist");
        return;
      case "retransmission":
      case "ack-absorbed":
        return;
    }
  }

  /**
   * Overload control (overload.ts): did this request wait past the target between the edge and
   * us? Every request stamped by an edge feeds that edge's baseline; only initial ones are shed.
   */
  #queuedTooLong(req: SipRequest): boolean {
    const guard = this.#guard;
    if (!guard.enabled) return false;
    const stamp = req.header(EDGE_SENT_AT_HEADER);
    if (stamp === undefined) return false;
    const sentAt = parseEdgeSentAt(stamp);
    if (sentAt === undefined) return false;
    // the clock id is random per edge process, so it alone names the sender (no key to build)
    return guard.shouldShed(guard.delay(sentAt.clock, sentAt.ms, monotonicEpochMs()));
  }

  /**
   * 500 + Retry-After through the new server transaction, which then absorbs the request's
   * retransmissions. Not 503: the edge in front of us would pass it on, and a client that gets a
   * 503 sends nothing more to that server (the edge, which serves every worker) for the
   * Retry-After (RFC 3261 §21.5.4); one busy worker must not black out a trunk's other traffic.
   * A proxy that can still serve other requests answers 500 instead (§16.7 step 6), which may
   * carry Retry-After (§21.5.1, §20.33).
   */
  #shed(req: SipRequest, tx: ServerTransaction, delayStartedAt: number): void {
    this.stats.overloadShed++;
    const now = Date.now();
    if (now - this.#shedLoggedAt >= 1000) {
      this.#shedLoggedAt = now;
      this.#log.warn({ shed: this.stats.overloadShed, method: req.method }, "overloaded: refusing new requests that queued too long (500 + Retry-After)");
    }
    tx.respond(500, buildResponse(req, 500, "Server Overloaded", {
      toTag: generateTag(),
      headers: [["Retry-After", String(overloadRetryAfter())]],
    }));
    const elapsedMs = performance.now() - delayStartedAt;
    if (req.method === "REGISTER") this.#o.onRegister?.(500, "overload", elapsedMs);
    else this.#o.onProxyFinal?.(req.method, 500, elapsedMs);
  }

  #failNewRequest(req: SipRequest, tx: ServerTransaction, err: unknown): void {
    this.stats.unparsable++;
    const status = err instanceof SipParseError ? err.sipStatus : 500;
    const reason = err instanceof SipParseError ? err.reason : "Server Internal Error";
    this.#log.warn({ err: err instanceof Error ? err.message : String(err), method: req.method, callId: req.callId, status }, "request rejected");
    if (tx.finalStatus === undefined && !tx.terminated) tx.respond(status, buildResponse(req, status, reason));
  }

  #startSpan(req: SipRequest): Span {
    return startSpan(
      `worker ${req.method}`,
      SpanKind.SERVER,
      { [SipAttr.method]: req.method, [SipAttr.callId]: req.callId, [SipAttr.transport]: "udp", [SipAttr.worker]: this.#o.id },
      contextFromTraceHeader(req.header(TRACE_HEADER)),
    );
  }

  #register(req: SipRequest, tx: ServerTransaction, span?: Span): void {
    this.stats.registers++;
    const startedAt = performance.now();
    const p = handleRegister(req, {
      domains: this.#domains,
      store: this.#o.store,
      now: Date.now(),
      settings: this.#o.settings,
      flowTokens: this.#o.flowTokens,
      ...(this.#o.authorize !== undefined ? { authorize: this.#o.authorize } : {}),
    })
      .then((reply) => {
        const o = reply.outcome;
        if (span !== undefined) {
          if (typeof o.aor === "string") span.setAttribute(SipAttr.aor, o.aor);
          endSipSpan(span, o.status);
        }
        tx.respond(o.status, reply.response);
        const now = performance.now();
        this.#o.onRegister?.(o.status, o.result === "rejected" ? o.step : undefined, now - startedAt);
        if (o.result === "ok") {
          // Other workers' caches only need to hear about what changes routing; a pure refresh
          // (the bulk of REGISTERs) moves expiry, which every cached read re-checks itself.
          if (o.routingChanged) this.#o.bus.publish(Subjects.bindingChanged, { aor: o.aor, by: this.#o.id }, busTraceHeaders(span));
          this.#log.debug({ aor: o.aor, contacts: o.contacts, callId: req.callId }, "REGISTER ok");
        } else {
          this.stats.registerRejected++;
          if (o.step === "store") this.stats.storeErrors++;
          this.#log.info({ status: o.status, reason: o.reason, step: o.step, aor: o.aor, detail: o.detail, callId: req.callId }, "REGISTER rejected");
        }
      })
      .catch((err: unknown) => {
        // handleRegister turns store failures into 503; anything reaching here is a bug. Answer anyway.
        this.stats.storeErrors++;
        this.#log.error({ err: err instanceof Error ? err.message : String(err), callId: req.callId }, "REGISTER failed");
        endSipSpan(span, 500, "REGISTER failed");
        tx.respond(500, buildResponse(req, 500, "Server Internal Error"));
      });
    this.#pending.track(p);
  }

  #onFlowFailed(m: BusMessage): void {
    const ev = eventOf<FlowFailed>(m);
    if (ev === undefined) return;
    if (typeof ev.flowToken !== "string") return;
    const reason = typeof ev.reason === "string" ? `flow-failed: ${ev.reason}` : "flow-failed";
    if (!tracingEnabled()) {
      this.#mark({ flowToken: ev.flowToken }, reason);
      return;
    }
    // DESIGN §4: trace context travels in the bus headers; the marking continues the edge's trace.
    const span = startSpan("worker flow-failed", SpanKind.CONSUMER, { [SipAttr.worker]: this.#o.id, [SipAttr.flow]: ev.flowToken }, contextFromBusHeaders(m.headers));
    withSpan(span, () => this.#mark({ flowToken: ev.flowToken }, reason));
    span.end();
  }

  #onEdgeDown(m: BusMessage): void {
    const ev = eventOf<EdgeDown>(m);
    if (ev === undefined) return;
    if (typeof ev.edge !== "string") return;
    this.#mark({ edge: ev.edge }, EDGE_DOWN_REASON);
  }

  #onEdgeUp(m: BusMessage): void {
    const ev = eventOf<EdgeUp>(m);
    if (ev === undefined) return;
    if (typeof ev.edge !== "string" || typeof ev.startedAt !== "number" || !Number.isFinite(ev.startedAt)) return;
    this.#pending.track(
      this.#o.store
        .edgeRestarted(ev.edge, ev.startedAt, Date.now())
        .then((aors) => {
          if (aors.length > 0) this.#log.info({ edge: ev.edge, startedAt: ev.startedAt, aors: aors.length }, "edge back: UDP bindings restored, older connection flows unreachable");
        })
        .catch((err: unknown) => this.#log.warn({ err: err instanceof Error ? err.message : String(err), edge: ev.edge }, "edgeRestarted failed")),
    );
  }

  #mark(sel: { flowToken: string } | { edge: string }, reason: string): void {
    this.#pending.track(
      this.#o.store
        .markUnreachable(sel, reason, Date.now())
        .then((aors) => {
          this.stats.markedUnreachable += aors.length;
          if (aors.length > 0) this.#log.info({ ...sel, reason, aors: aors.length }, "bindings marked unreachable");
        })
        .catch((err: unknown) => this.#log.warn({ err: err instanceof Error ? err.message : String(err), ...sel }, "markUnreachable failed")),
    );
  }

  #statelessReply(req: SipRequest, flow: FlowInfo, status: number, reason: string): void {
    try {
      const target = responseTarget(req.topVia(), flow);
      this.#transport?.send(buildResponse(req, status, reason), target as TransportTarget);
    } catch {
      // no usable Via: nothing to answer to
    }
  }
}

/** A bus event's JSON object payload; undefined for anything else (ignored, never thrown). */
function eventOf<T extends object>(m: BusMessage): T | undefined {
  try {
    const v = m.json<unknown>();
    return typeof v === "object" && v !== null ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

function splitHostPort(hp: string): [string, number] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hp);
  if (m === null) throw new Error(`registrar: advertise must be host:port, got "${hp}"`);
  return [m[1]!, Number(m[2])];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * Times each proxied request's first final response (metrics) through the transaction layer's
 * server delegate: the location proxy answers from several places (§16.7 best response, 404/480,
 * auth, 408) and every one goes through its server transaction. REGISTER is timed by the registrar
 * (onRegister) and a CANCEL is not an initial request. One shared object: no per-request closure and
 * no patched `respond` (which gave every proxied transaction its own hidden class).
 */
function proxyFinalObserver(hook: (method: string, status: number, elapsedMs: number) => void): ServerTransactionUser {
  return {
    onFinalResponse(tx, status) {
      if (tx.method !== "REGISTER" && tx.method !== "CANCEL") hook(tx.method, status, performance.now() - tx.createdAt);
    },
  };
}
