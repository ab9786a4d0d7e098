/**
 * The worker's location proxy: transaction-stateful forwarding (RFC 3261 §16) of requests for
 * registered users to their bindings, each branch routed along the binding's Path (RFC 3327 §5.3)
 * so it reaches the edge that holds the callee's flow (DESIGN §2).
 *
 * One response context (§16.7) per server transaction:
 * - targets are the AOR's reachable bindings, in q order: bindings of equal q are tried in
 *   parallel, q levels one after another (§16.6 "in any order", RFC 3261 §16.2 / RFC 3841 style
 *   q-value processing as Kamailio's serial forking does);
 * - each branch: Request-URI = contact, Route = Path vector in front of any Route the request
 *   had, a new Via of ours, Max-Forwards - 1, sent as a client transaction to the first Route URI;
 * - best response (§16.7 step 6): 2xx forwarded at once (every 2xx to INVITE, RFC 6026 §8.4);
 *   6xx stops new branches and cancels pending ones; else the lowest class (3xx < 4xx < 5xx);
 * - a branch that fails for reachability (430 Flow Failed from the edge, 503, transport failure)
 *   does not become the answer: if nothing better comes back the caller gets 480 Temporarily
 *   Unavailable (RFC 5626 §5.3/§11.5: 430 is not forwarded; RFC 3261 §16.7 step 6 says a 503 is
 *   not passed upstream as such). A 430 also marks that flow's bindings unreachable ("flow-failed");
 * - CANCEL from upstream: 200 to the CANCEL, CANCEL to every pending INVITE branch once it has had
 *   a provisional response (§9.1, §16.10); the 487s come back and are forwarded as the answer.
 *   A cancelled context whose branches only time out answers 487, not 408;
 * - Timer C (§16.6 step 11, > 3 minutes) guards INVITE branches that stay in Proceeding; a CANCEL
 *   we sent that gets no final within 64*T1 ends the branch as a timeout.
 *
 * - RFC 3261 §22.3 (Kamailio's consume_credentials): Proxy-Authorization credentials for one of
 *   our realms were addressed to this proxy; they are removed from every branch so a callee never
 *   receives the caller's credentials. Credentials for other realms stay, for the downstream proxy
 *   that owns them (§22.3: a request may carry credentials for several proxies).
 *
 * Not done (documented gaps): 3xx recursion (a 3xx is just a response), 401/407 challenge
 * aggregation (§16.7 step 7: the first one is forwarded), loop detection beyond Max-Forwards
 * (the edge checks loops), strict routers in Path, RFC 3263 name resolution.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { buildResponse, generateBranch, generateTag, parseAuthParams, parseSipUri, SipParseError } from "@edgepath/sip";
import type { ServedDomains, SipRequest, SipResponse, SipUri } from "@edgepath/sip";
import type { Binding, BindingStore } from "@edgepath/bindings";
import { buildCancel, systemScheduler } from "@edgepath/transactions";
import type {
  ClientTransaction,
  ClientTransactionUser,
  InviteServerTransaction,
  NonInviteServerTransaction,
  Scheduler,
  SendTarget,
  ServerTransaction,
  TransactionLayer,
} from "@edgepath/transactions";
import { InFlight } from "./in-flight.js";
import { formatHostPort, hopOfRoute, hopOfUri, viaTarget } from "./targets.js";
import { endSipSpan, SipAttr, SpanKind, startSpan, TRACE_HEADER, traceHeaderValue, withSpan, type Span } from "@edgepath/telemetry";

/** RFC 3261 §16.6 step 11: "Timer C MUST be set ... greater than 3 minutes". */
export const DEFAULT_TIMER_C_MS = 181_000;

export interface LocationProxyOptions {
  readonly transactions: TransactionLayer;
  readonly store: BindingStore;
  /** served domains and their aliases (a Request-URI naming an alias is looked up under its domain) */
  readonly domains: ServedDomains;
  /** Our advertised internal address: the sent-by of our Via and the host:port of our own Route URIs. */
  readonly self: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  /** Sends bytes without a transaction (stateless ACK / response forwarding, §16.11). */
  readonly sendStateless: (bytes: Buffer, target: SendTarget) => boolean;
  /** epoch ms, for the store. Default Date.now. */
  readonly clock?: () => number;
  /** Timer C and CANCEL guards. Default Node timers. */
  readonly scheduler?: Scheduler;
  readonly timerCMs?: number;
  /**
   * DESIGN §6 / RFC 3261 §22.3: authentication of initial requests before the location lookup.
   * Resolves to the complete response to send instead (407 challenge, 403), or undefined to go on.
   */
  readonly authorize?: (req: SipRequest) => Promise<Buffer | undefined>;
  /**
   * RFC 3261 §22.3: realms (lower-case) whose Proxy-Authorization credentials this proxy consumes
   * (strips before forwarding). Default: `domains` (the authenticator's default realm per AOR);
   * pass the configured realm too when one is set.
   */
  readonly realms?: ReadonlySet<string>;
}

export interface LocationProxyStats {
  requests: number;
  rejected: number;
  branches: number;
  acksForwarded: number;
  acksDropped: number;
  strayResponsesForwarded: number;
  strayResponsesDropped: number;
}

type BranchEnd =
  | { readonly kind: "response"; readonly response: SipResponse }
  | { readonly kind: "timeout" }
  /** could not reach the callee through this binding: 430/503 or a transport failure */
  | { readonly kind: "unreachable"; readonly why: string; readonly response?: SipResponse };

interface Branch {
  readonly binding: Binding;
  readonly target: SendTarget;
  tx: ClientTransaction | undefined;
  provisional: boolean;
  end: BranchEnd | undefined;
  /** upstream CANCEL / 2xx / 6xx asked us to cancel; sent once a provisional arrives (§9.1) */
  cancelWanted: boolean;
  cancelSent: boolean;
  timerC: unknown;
  cancelGuard: unknown;
}

/** §16.7 response context of one proxied request. */
class ResponseContext {
  readonly branches: Branch[] = [];
  groups: Binding[][] = [];
  nextGroup = 0;
  /** a final response went upstream */
  finalSent = false;
  /** upstream CANCEL received (§16.10) */
  cancelled = false;
  /** a 6xx arrived: no new branches (§16.7 step 6) */
  global6xx = false;
  /** set once the location lookup is done */
  started = false;
  /**
   * true while #startNextGroup starts a q level's branches: a branch whose first send fails at once
   * (§16.9) ends synchronously, and must not finish the context or open the next q level while its
   * siblings are still being started; #startNextGroup re-checks when the level is out.
   */
  startingGroup = false;
  /**
   * RFC 3261 §22.3: set when the request carries credentials for one of our realms: the
   * Proxy-Authorization values to keep (other realms'), in order. Undefined: nothing to strip.
   */
  keptCredentials: string[] | undefined;
  /** the top Route is ours and comes off before each branch is forwarded */
  popOwnRoute = false;

  constructor(
    readonly req: SipRequest,
    readonly server: ServerTransaction,
    readonly aor: string,
  ) {}

  get isInvite(): boolean {
    return this.req.method === "INVITE";
  }
}

export class LocationProxy {
  readonly stats: LocationProxyStats = {
    requests: 0,
    rejected: 0,
    branches: 0,
    acksForwarded: 0,
    acksDropped: 0,
    strayResponsesForwarded: 0,
    strayResponsesDropped: 0,
  };
  readonly #o: LocationProxyOptions;
  readonly #clock: () => number;
  readonly #scheduler: Scheduler;
  readonly #timerC: number;
  readonly #sentBy: string;
  readonly #realms: ReadonlySet<string>;
  /**
   * Open response contexts by server transaction. A WeakMap and a count, not a Map: a Map that
   * gains and loses an entry per request keeps per-request objects alive across scavenges through
   * its replaced tables (see in-flight.ts).
   */
  readonly #contexts = new WeakMap<ServerTransaction, ResponseContext>();
  #openContexts = 0;
  readonly #pending = new InFlight();
  /**
   * DESIGN §5 tracing (only filled when the worker passes a span): the server span per transaction
   * (a WeakMap for the reason #contexts is one), a CLIENT span per branch.
   */
  readonly #spans = new WeakMap<ServerTransaction, Span>();
  readonly #branchSpans = new WeakMap<Branch, Span>();

  constructor(opts: LocationProxyOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#scheduler = opts.scheduler ?? systemScheduler;
    this.#timerC = opts.timerCMs ?? DEFAULT_TIMER_C_MS;
    this.#sentBy = formatHostPort(opts.self.host, opts.self.port);
    this.#realms = opts.realms ?? opts.domains.domains;
  }

  /** Response contexts still open (graceful shutdown, metrics). */
  get openContexts(): number {
    return this.#openContexts;
  }

  /** Resolves when every location lookup started so far has finished. */
  settled(): Promise<void> {
    return this.#pending.settled();
  }

  /** The context is done: no longer found by CANCEL, no longer counted as open. */
  #closeContext(ctx: ResponseContext): void {
    if (this.#contexts.delete(ctx.server)) this.#openContexts--;
  }

  /** A new server transaction for a request other than REGISTER, CANCEL, ACK (§16.3 onwards). */
  handleRequest(req: SipRequest, server: ServerTransaction, span?: Span): void {
    this.stats.requests++;
    if (span !== undefined) this.#spans.set(server, span);
    if (server.kind === "invite-server") server.sendTrying(); // §16.2 / §16.7: 100 Trying at once

    // ---- §16.3 request validation (the edge checked most of this; re-check what is cheap) ----
    const mf = req.maxForwards();
    if (mf !== undefined && mf <= 0) {
      this.#reject(req, server, 483, "Too Many Hops", "max-forwards 0");
      return;
    }
    const proxyRequire = req.proxyRequire();
    if (proxyRequire.length > 0) {
      // §16.3 step 5: we support no proxy option tags.
      this.#reject(req, server, 420, "Bad Extension", `Proxy-Require: ${proxyRequire.join(", ")}`, [
        ["Unsupported", proxyRequire.join(", ")],
      ]);
      return;
    }
    let ruri: SipUri;
    try {
      const u = req.requestUri();
      if (u.scheme === "tel") {
        this.#reject(req, server, 404, "Not Found", "tel Request-URI: no location lookup for tel");
        return;
      }
      ruri = u;
    } catch (err) {
      const e = err instanceof SipParseError ? err : undefined;
      this.#reject(req, server, e?.sipStatus ?? 400, e?.reason ?? "Bad Request-URI", "unparseable Request-URI");
      return;
    }

    // ---- §16.4: a top Route that is ours is removed ----
    const popOwnRoute = this.#topRouteIsOurs(req);

    // OPTIONS to the worker itself (health pings from peers): answer, don't proxy (§11).
    if (ruri.user === undefined && this.#isSelf(ruri)) {
      if (req.method === "OPTIONS") {
        this.#endSpan(server, 200);
        server.respond(200, buildResponse(req, 200, "OK", { toTag: generateTag(), headers: [["Allow", ALLOW]] }));
      } else {
        this.#reject(req, server, 404, "Not Found", "request addressed to the worker itself");
      }
      return;
    }
    // ---- §16.5: only our domains are looked up; workers do not proxy elsewhere ----
    if (!this.#o.domains.has(ruri.host)) {
      this.#reject(req, server, 404, "Domain Not Served Here", `Request-URI domain ${ruri.host}`);
      return;
    }
    if (ruri.user === undefined || ruri.user === "") {
      this.#reject(req, server, 404, "Not Found", "Request-URI has no user part");
      return;
    }
    const aor = this.#o.domains.aorOf(ruri);
    span?.setAttribute(SipAttr.aor, aor);
    const ctx = new ResponseContext(req, server, aor);
    ctx.popOwnRoute = popOwnRoute;
    if (!this.#contexts.has(server)) this.#openContexts++;
    this.#contexts.set(server, ctx);
    const p = this.#authorizeThenFork(ctx).catch((err: unknown) => {
      if (ctx.finalSent) return;
      // A binding store that is down (Redis restarting) is a 503 with Retry-After (RFC 3261
      // §21.5.4), not a 500: the UA or trunk retries instead of giving up on the user.
      const unavailable = storeUnavailable(err);
      if (unavailable !== undefined) {
        this.#o.logger.warn({ err: unavailable.message, aor, callId: req.callId }, "binding store unavailable");
        this.#sendFinalLocal(ctx, 503, "Service Unavailable", "binding store unavailable", [["Retry-After", String(unavailable.retryAfter)]]);
        return;
      }
      this.#o.logger.error({ err, aor, callId: req.callId }, "location proxy failed");
      this.#sendFinalLocal(ctx, 500, "Server Internal Error");
    });
    this.#pending.track(p);
  }

  /** §16.10: CANCEL matched an INVITE server transaction: 200 to it, cancel pending branches. */
  handleCancel(cancelTx: NonInviteServerTransaction, inviteTx: InviteServerTransaction): void {
    // §16.10: the proxy answers the CANCEL itself, as a UAS would (§8.2.6.2: a To tag on every final).
    cancelTx.respond(200, buildResponse(cancelTx.request, 200, "OK", { toTag: generateTag() }));
    const ctx = this.#contexts.get(inviteTx);
    if (ctx === undefined || ctx.finalSent) return;
    ctx.cancelled = true;
    this.#o.logger.debug({ aor: ctx.aor, callId: ctx.req.callId }, "upstream CANCEL: cancelling branches");
    if (!ctx.started) return; // the lookup finishing sees `cancelled` and answers 487
    for (const b of ctx.branches) this.#cancelBranch(ctx, b, undefined);
    this.#maybeFinish(ctx);
  }

  /**
   * An ACK no server transaction absorbed: the ACK for a 2xx (§13.2.2.4), its own transaction.
   * Workers are not on the dialog's route; if one reaches us with a Route set anyway it is forwarded
   * statelessly along it (§16.11: branch derived from the incoming one), else dropped and counted.
   */
  handleAck(req: SipRequest): void {
    const routes = req.headerValues("route");
    let skip = 0;
    if (this.#topRouteIsOurs(req)) skip = 1;
    const next = routes[skip];
    if (next === undefined) {
      this.stats.acksDropped++;
      this.#o.logger.debug({ callId: req.callId }, "ACK without Route dropped (workers are not in dialogs)");
      return;
    }
    const hop = hopOfRoute(next);
    if (!hop.ok) {
      this.stats.acksDropped++;
      this.#o.logger.info({ callId: req.callId, reason: hop.reason }, "ACK dropped: unroutable Route");
      return;
    }
    const incoming = req.topVia().branch ?? req.callId;
    const branch = `z9hG4bK${createHash("sha1").update(`${incoming}|ack`).digest("base64url").slice(0, 22)}`;
    const ed = req.edit();
    if (skip === 1) ed.removeTopValue("route");
    ed.setMaxForwards(Math.max(0, (req.maxForwards() ?? 70) - 1));
    ed.prependHeader("Via", `SIP/2.0/${hop.target.transport.toUpperCase()} ${this.#sentBy};branch=${branch}`);
    if (this.#o.sendStateless(ed.toBuffer(), hop.target)) this.stats.acksForwarded++;
    else this.stats.acksDropped++;
  }

  /**
   * §16.7 step 1: a response matching no client transaction is handled as a stateless proxy would:
   * if the top Via is ours, pop it and send to the next Via (a late 2xx to INVITE in practice).
   */
  handleStrayResponse(res: SipResponse): void {
    const vias = res.vias();
    const top = vias[0];
    const next = vias[1];
    if (top === undefined || !this.#isOurVia(top.host, top.port) || next === undefined) {
      this.stats.strayResponsesDropped++;
      return;
    }
    const target = viaTarget(next);
    if (target === undefined) {
      this.stats.strayResponsesDropped++;
      return;
    }
    if (this.#o.sendStateless(res.edit().removeTopValue("via").toBuffer(), target)) this.stats.strayResponsesForwarded++;
    else this.stats.strayResponsesDropped++;
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * DESIGN §6: the authorize hook (407 / 403) runs first. The response context already exists,
   * so a CANCEL arriving meanwhile is seen (§16.10) and answered with 487 once the hook is done.
   */
  async #authorizeThenFork(ctx: ResponseContext): Promise<void> {
    if (this.#o.authorize !== undefined) {
      const refusal = await this.#o.authorize(ctx.req);
      if (refusal !== undefined) {
        if (ctx.finalSent) return;
        if (ctx.cancelled) {
          this.#sendFinalLocal(ctx, 487, "Request Terminated");
          return;
        }
        const status = Number(refusal.toString("latin1", 8, 11));
        ctx.finalSent = true;
        this.#closeContext(ctx);
        this.stats.rejected++;
        this.#o.logger.info({ status, aor: ctx.aor, method: ctx.req.method, callId: ctx.req.callId }, "request not authorised");
        this.#endSpan(ctx.server, status);
        ctx.server.respond(status, refusal);
        return;
      }
    }
    await this.#lookupAndFork(ctx);
  }

  async #lookupAndFork(ctx: ResponseContext): Promise<void> {
    const { known, bindings } = await this.#o.store.lookup(ctx.aor, this.#clock());
    ctx.started = true;
    if (ctx.finalSent) return;
    if (ctx.cancelled) {
      this.#sendFinalLocal(ctx, 487, "Request Terminated");
      return;
    }
    const reachable = bindings.filter((b) => b.reachable);
    if (reachable.length === 0) {
      // DESIGN §2: 404 unknown user, 480 known but not registered / not reachable — at once.
      if (!known && bindings.length === 0) this.#sendFinalLocal(ctx, 404, "Not Found", "no such user");
      else this.#sendFinalLocal(ctx, 480, "Temporarily Unavailable", `${bindings.length} binding(s), none reachable`);
      return;
    }
    ctx.groups = groupByQ(reachable);
    ctx.keptCredentials = foreignCredentials(ctx.req, this.#realms);
    this.#startNextGroup(ctx);
  }

  /** §16.6 for each target of the next q level; levels whose branches all fail at once are skipped. */
  #startNextGroup(ctx: ResponseContext): void {
    while (ctx.nextGroup < ctx.groups.length && !ctx.cancelled && !ctx.global6xx && !ctx.finalSent) {
      const group = ctx.groups[ctx.nextGroup++] ?? [];
      ctx.startingGroup = true;
      try {
        for (const binding of group) this.#startBranch(ctx, binding);
      } finally {
        ctx.startingGroup = false;
      }
      if (ctx.branches.some((b) => b.end === undefined)) return;
    }
    this.#maybeFinish(ctx);
  }

  #startBranch(ctx: ResponseContext, binding: Binding): void {
    const log = this.#o.logger;
    const hop = binding.path.length > 0 ? hopOfRoute(binding.path[0] ?? "") : hopOfUri(binding.contact);
    const branch: Branch = {
      binding,
      target: hop.ok ? hop.target : { transport: "udp", address: "0.0.0.0", port: 0 },
      tx: undefined,
      provisional: false,
      end: undefined,
      cancelWanted: false,
      cancelSent: false,
      timerC: undefined,
      cancelGuard: undefined,
    };
    ctx.branches.push(branch);
    if (!hop.ok) {
      log.warn({ aor: ctx.aor, contact: binding.contact, reason: hop.reason }, "branch not started: no usable next hop");
      branch.end = { kind: "unreachable", why: hop.reason };
      return;
    }
    // §16.6 steps 1-8: copy, Request-URI, Max-Forwards, (no Record-Route), Route = Path, Via.
    const ed = ctx.req.edit();
    if (ctx.popOwnRoute) ed.removeTopValue("route");
    ed.setRequestUri(binding.contact);
    if (binding.path.length > 0) ed.prependHeader("Route", binding.path.join(", "));
    if (ctx.keptCredentials !== undefined) {
      // RFC 3261 §22.3: consume our realm's credentials; keep the others in their order.
      ed.removeHeader("Proxy-Authorization");
      for (const v of ctx.keptCredentials) ed.appendHeader("Proxy-Authorization", v);
    }
    ed.setMaxForwards((ctx.req.maxForwards() ?? 70) - 1);
    ed.prependHeader("Via", `SIP/2.0/${hop.target.transport.toUpperCase()} ${this.#sentBy};branch=${generateBranch()};rport`);
    const user: ClientTransactionUser = {
      onResponse: (res) => this.#onBranchResponse(ctx, branch, res),
      onTimeout: () => this.#onBranchEnd(ctx, branch, { kind: "timeout" }),
      onTransportError: (_tx, error) => {
        log.info({ aor: ctx.aor, target: hop.target, err: error.message }, "branch transport failure (treated as 503, §16.9)");
        this.#onBranchEnd(ctx, branch, { kind: "unreachable", why: `transport: ${error.message}` });
      },
    };
    this.stats.branches++;
    try {
      this.#traceBranch(ctx, branch, ed);
      branch.tx = this.#o.transactions.createClient(ed.toBuffer(), hop.target, user);
    } catch (err) {
      log.error({ err, aor: ctx.aor }, "client transaction not created");
      if (branch.end === undefined) branch.end = { kind: "unreachable", why: "client transaction not created" };
      return;
    }
    if (ctx.isInvite && branch.end === undefined) this.#startTimerC(ctx, branch);
  }

  #onBranchResponse(ctx: ResponseContext, branch: Branch, res: SipResponse): void {
    const status = res.status;
    if (status >= 200) this.#endBranchSpan(branch, status);
    if (status < 200) {
      if (branch.end !== undefined) return;
      branch.provisional = true;
      if (ctx.isInvite) this.#startTimerC(ctx, branch); // §16.7 step 2: reset Timer C on a provisional
      if (branch.cancelWanted && !branch.cancelSent) this.#sendCancel(ctx, branch, undefined);
      // §16.7 step 5: forward provisionals other than 100 while no final went upstream.
      if (status > 100 && !ctx.finalSent && !ctx.cancelled) this.#forward(ctx, res);
      return;
    }
    if (status < 300) {
      // §16.7 step 5: 2xx forwarded at once; for INVITE every 2xx, also later ones (RFC 6026 §8.4).
      const first = branch.end === undefined;
      if (first) branch.end = { kind: "response", response: res };
      this.#clearBranchTimers(branch);
      if (ctx.isInvite || !ctx.finalSent) {
        this.#forward(ctx, res);
        ctx.finalSent = true;
      }
      // §16.7 step 10: cancel the other pending branches of an INVITE.
      if (ctx.isInvite) for (const b of ctx.branches) this.#cancelBranch(ctx, b, 'SIP;cause=200;text="Call completed elsewhere"');
      if (first) this.#maybeFinish(ctx);
      return;
    }
    if (status === 430 || status === 503) {
      if (status === 430) this.#flowFailed(ctx, branch);
      this.#onBranchEnd(ctx, branch, { kind: "unreachable", why: `${status} ${res.reason}`, response: res });
      return;
    }
    if (status >= 600 && !ctx.global6xx) {
      // §16.7 step 6 / §16.7 step 10: a 6xx ends the search; cancel what is pending.
      ctx.global6xx = true;
      if (ctx.isInvite) for (const b of ctx.branches) if (b !== branch) this.#cancelBranch(ctx, b, undefined);
    }
    this.#onBranchEnd(ctx, branch, { kind: "response", response: res });
  }

  #onBranchEnd(ctx: ResponseContext, branch: Branch, end: BranchEnd): void {
    if (branch.end !== undefined) return;
    this.#endBranchSpan(branch, undefined, end.kind === "response" ? undefined : end.kind === "timeout" ? "timeout" : end.why);
    branch.end = end;
    this.#clearBranchTimers(branch);
    if (end.kind === "timeout") {
      this.#o.logger.info({ aor: ctx.aor, contact: branch.binding.contact }, "branch timed out (408, §16.8)");
    }
    this.#maybeFinish(ctx);
  }

  /** When every branch has ended: next q level, or the best response upstream (§16.7 step 4/6). */
  #maybeFinish(ctx: ResponseContext): void {
    if (!ctx.started || ctx.startingGroup || ctx.branches.some((b) => b.end === undefined)) return;
    if (!ctx.finalSent && !ctx.cancelled && !ctx.global6xx && ctx.nextGroup < ctx.groups.length) {
      this.#startNextGroup(ctx);
      return;
    }
    this.#closeContext(ctx);
    if (ctx.finalSent) return;
    const best = chooseBest(ctx.branches);
    if (best.kind === "response") {
      this.#forward(ctx, best.response);
      ctx.finalSent = true;
      return;
    }
    if (best.kind === "timeout") {
      if (ctx.cancelled) this.#sendFinalLocal(ctx, 487, "Request Terminated");
      else this.#sendFinalLocal(ctx, 408, "Request Timeout", "every branch timed out");
      return;
    }
    if (ctx.cancelled) this.#sendFinalLocal(ctx, 487, "Request Terminated");
    else this.#sendFinalLocal(ctx, 480, "Temporarily Unavailable", `no reachable contact: ${best.why}`);
  }

  /** §16.7 step 9: our Via off, then through the server transaction to the previous hop. */
  #forward(ctx: ResponseContext, res: SipResponse): void {
    const bytes = res.edit().removeTopValue("via").toBuffer();
    if (res.status >= 200) this.#endSpan(ctx.server, res.status);
    ctx.server.respond(res.status, bytes);
  }

  /** DESIGN §5: the branch is a CLIENT child of the server span; its context rides in the internal trace header to the edge. */
  #traceBranch(ctx: ResponseContext, branch: Branch, ed: ReturnType<SipRequest["edit"]>): void {
    const parent = this.#spans.get(ctx.server);
    if (parent === undefined) return;
    const b = branch.binding;
    const attributes = {
      [SipAttr.method]: ctx.req.method,
      [SipAttr.callId]: ctx.req.callId,
      [SipAttr.aor]: ctx.aor,
      [SipAttr.transport]: branch.target.transport,
      [SipAttr.flow]: b.flowToken ?? b.contact,
      ...(b.edge !== undefined ? { [SipAttr.edge]: b.edge } : {}),
    };
    const span = withSpan(parent, () => startSpan(`branch ${ctx.req.method}`, SpanKind.CLIENT, attributes));
    this.#branchSpans.set(branch, span);
    const value = traceHeaderValue(span);
    if (value !== undefined) ed.setHeader(TRACE_HEADER, value);
  }

  #endBranchSpan(branch: Branch, status: number | undefined, error?: string): void {
    const span = this.#branchSpans.get(branch);
    if (span === undefined) return;
    this.#branchSpans.delete(branch);
    endSipSpan(span, status, error);
  }

  #endSpan(server: ServerTransaction, status: number): void {
    const span = this.#spans.get(server);
    if (span === undefined) return;
    this.#spans.delete(server);
    endSipSpan(span, status);
  }

  #sendFinalLocal(ctx: ResponseContext, status: number, reason: string, detail?: string, headers?: ReadonlyArray<readonly [string, string]>): void {
    ctx.finalSent = true;
    this.#closeContext(ctx);
    if (status >= 300) {
      this.stats.rejected++;
      this.#o.logger.info(
        { status, reason, detail, aor: ctx.aor, method: ctx.req.method, callId: ctx.req.callId },
        "request answered by the location proxy",
      );
    }
    this.#endSpan(ctx.server, status);
    const opts = headers !== undefined ? { toTag: generateTag(), headers } : { toTag: generateTag() };
    ctx.server.respond(status, buildResponse(ctx.req, status, reason, opts));
  }

  #reject(
    req: SipRequest,
    server: ServerTransaction,
    status: number,
    reason: string,
    detail: string,
    headers?: ReadonlyArray<readonly [string, string]>,
  ): void {
    this.stats.rejected++;
    this.#o.logger.info({ status, reason, detail, method: req.method, ruri: req.uri, callId: req.callId }, "request rejected");
    const opts = headers !== undefined ? { toTag: generateTag(), headers } : { toTag: generateTag() };
    this.#endSpan(server, status);
    server.respond(status, buildResponse(req, status, reason, opts));
  }

  /** Cancels a pending INVITE branch now, or once it has a provisional response (§9.1). */
  #cancelBranch(ctx: ResponseContext, branch: Branch, reason: string | undefined): void {
    if (!ctx.isInvite || branch.end !== undefined || branch.cancelWanted) return;
    branch.cancelWanted = true;
    if (branch.provisional) this.#sendCancel(ctx, branch, reason);
  }

  #sendCancel(ctx: ResponseContext, branch: Branch, reason: string | undefined): void {
    const tx = branch.tx;
    if (tx === undefined || branch.cancelSent) return;
    branch.cancelSent = true;
    const bytes = buildCancel(tx.request, reason !== undefined ? [["Reason", reason]] : []);
    try {
      this.#o.transactions.createClient(bytes, branch.target, CANCEL_USER);
    } catch (err) {
      this.#o.logger.warn({ err, aor: ctx.aor }, "CANCEL not sent");
    }
    // If the downstream never answers the INVITE after our CANCEL, end the branch anyway.
    const t = this.#o.transactions.timers;
    branch.cancelGuard = this.#scheduler.setTimeout(() => {
      branch.cancelGuard = undefined;
      if (branch.end !== undefined) return;
      tx.abort();
      this.#onBranchEnd(ctx, branch, { kind: "timeout" });
    }, 64 * t.T1);
  }

  /** §16.8: Timer C fired: CANCEL a branch with a provisional, else treat it as a 408. */
  #startTimerC(ctx: ResponseContext, branch: Branch): void {
    if (branch.timerC !== undefined) this.#scheduler.clearTimeout(branch.timerC);
    branch.timerC = this.#scheduler.setTimeout(() => {
      branch.timerC = undefined;
      if (branch.end !== undefined) return;
      if (branch.provisional) {
        branch.cancelWanted = true;
        this.#sendCancel(ctx, branch, undefined);
      } else {
        branch.tx?.abort();
        this.#onBranchEnd(ctx, branch, { kind: "timeout" });
      }
    }, this.#timerC);
  }

  #clearBranchTimers(branch: Branch): void {
    if (branch.timerC !== undefined) this.#scheduler.clearTimeout(branch.timerC);
    if (branch.cancelGuard !== undefined) this.#scheduler.clearTimeout(branch.cancelGuard);
    branch.timerC = undefined;
    branch.cancelGuard = undefined;
  }

  /** RFC 5626 §5.3: the edge says the flow is gone: mark its bindings unreachable (DESIGN §3). */
  #flowFailed(ctx: ResponseContext, branch: Branch): void {
    const flowToken = branch.binding.flowToken;
    this.#o.logger.info({ aor: ctx.aor, contact: branch.binding.contact, edge: branch.binding.edge }, "430 Flow Failed from edge");
    if (flowToken === undefined) return;
    this.#o.store.markUnreachable({ flowToken }, "flow-failed", this.#clock()).catch((err: unknown) => {
      this.#o.logger.warn({ err, aor: ctx.aor }, "could not mark flow unreachable");
    });
  }

  #topRouteIsOurs(req: SipRequest): boolean {
    const top = req.routes()[0];
    if (top === undefined) return false;
    try {
      const u = parseSipUri(top.uri);
      return this.#isSelf(u);
    } catch {
      return false;
    }
  }

  #isSelf(u: SipUri): boolean {
    return u.host === this.#o.self.host.toLowerCase() && (u.port ?? 5060) === this.#o.self.port;
  }

  #isOurVia(host: string, port: number | undefined): boolean {
    return host === this.#o.self.host.toLowerCase() && (port ?? 5060) === this.#o.self.port;
  }
}

const ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, PUBLISH, REGISTER";

/** CANCEL client transactions need no TU logic: their 200 (or timeout) changes nothing (§9.1). */
const CANCEL_USER: ClientTransactionUser = {
  onResponse: () => undefined,
  onTimeout: () => undefined,
  onTransportError: () => undefined,
};

/**
 * RFC 3261 §22.3: when `req` has Proxy-Authorization credentials for one of `realms`, the values
 * of the OTHER Proxy-Authorization fields (to forward); undefined when there is nothing of ours to
 * strip (the common case: no allocation, no edit). A value that does not parse is not ours: kept.
 */
export function foreignCredentials(req: SipRequest, realms: ReadonlySet<string>): string[] | undefined {
  let ours = false;
  const kept: string[] = [];
  // only the Proxy-Authorization lines are read (`fields` would build an object and a value
  // string for every header line of every proxied request)
  for (const value of req.fieldValues("proxy-authorization")) {
    let realm: string | undefined;
    try {
      realm = parseAuthParams(value).params.get("realm")?.toLowerCase();
    } catch {
      realm = undefined;
    }
    if (realm !== undefined && realms.has(realm)) ours = true;
    else kept.push(value);
  }
  return ours ? kept : undefined;
}

/** Bindings grouped by q, highest first (the store sorts by q; keep its order within a level). */
export function groupByQ(bindings: readonly Binding[]): Binding[][] {
  const sorted = [...bindings].sort((a, b) => b.q - a.q);
  const groups: Binding[][] = [];
  for (const b of sorted) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0]?.q === b.q) last.push(b);
    else groups.push([b]);
  }
  return groups;
}

type Best = { kind: "response"; response: SipResponse } | { kind: "timeout" } | { kind: "unreachable"; why: string };

/**
 * §16.7 step 6: "If any 6xx, the proxy MUST choose it; otherwise the lowest response class":
 * 3xx < 4xx < 5xx. Within a class the first received. Reachability failures (430, 503, transport)
 * are only chosen when nothing else came back, and then become 480 (RFC 5626 §11.5, §16.7 step 6
 * on 503). A timeout counts as a 408 in the 4xx class (§16.8) below a real 4xx.
 */
function chooseBest(branches: readonly Branch[]): Best {
  let best: SipResponse | undefined;
  let timeout = false;
  let why = "no branches";
  const rank = (s: number): number => (s >= 600 ? 0 : s >= 300 && s < 400 ? 1 : s < 500 ? 2 : 3);
  for (const b of branches) {
    const e = b.end;
    if (e === undefined) continue;
    if (e.kind === "response") {
      if (best === undefined || rank(e.response.status) < rank(best.status)) best = e.response;
    } else if (e.kind === "timeout") timeout = true;
    else why = e.why;
  }
  if (best !== undefined && (rank(best.status) <= 1 || !timeout || best.status < 500)) return { kind: "response", response: best };
  if (timeout) return { kind: "timeout" };
  return { kind: "unreachable", why };
}

/** A store error that says "try again later" (e.g. BindingStoreUnavailableError: sipStatus 503 + retryAfter). */
function storeUnavailable(err: unknown): { message: string; retryAfter: number } | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { sipStatus?: unknown; retryAfter?: unknown; message?: unknown };
  if (e.sipStatus !== 503) return undefined;
  const retryAfter = typeof e.retryAfter === "number" && e.retryAfter > 0 ? Math.ceil(e.retryAfter) : 5;
  return { message: typeof e.message === "string" ? e.message : "unavailable", retryAfter };
}
