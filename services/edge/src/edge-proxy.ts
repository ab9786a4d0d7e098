/**
 * The stateless edge proxy (RFC 3261 §16.11): the public face of edgepath.
 *
 * Every message is handled by one pass: parse, check (§16.3), decide where it goes
 * (our own Route entries and flow tokens first, §16.4 / RFC 5626 §5.3; then the
 * Request-URI on the worker ring), mutate by splicing (Via, Path, Record-Route, Route,
 * Max-Forwards) and send. No transaction state is kept: responses find their way back
 * through the `ft` (flow token) parameter of our own Via, so they go out over the very
 * flow the request came in on (RFC 3261 §18.2.2, RFC 3581 §4).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { Logger } from "pino";
import {
  buildResponse,
  parseMessage,
  ServedDomains,
  viaWithReceived,
  type MessageEditor,
  type SipParseError,
  type SipRequest,
  type SipResponse,
  type SipUri,
  type Via,
} from "@edgepath/sip";
import type { FlowDescriptor, FlowTokenCodec } from "@edgepath/flow-token";
import {
  TransportLayer,
  type BoundListener,
  type DropSource,
  type FlowCloseReason,
  type FlowInfo,
  type ListenSpec,
  type TransportKind,
  type TlsSettings,
  type TransportLimits,
} from "@edgepath/transport";
import type { AorRing, RingMember } from "@edgepath/ring";
import { EDGE_SENT_AT_HEADER, edgeSentAtValue, Subjects, type ClusterBus } from "@edgepath/cluster";
import { formatHostPort, OwnAddresses, parseHostPort, type HostPort } from "./addresses.js";
import { descriptorOf, flowRefOf, isSameFlow, tokenOf } from "./flow.js";
import { decideRoute } from "./loose-route.js";
import { decidePath, pathValue, type PathPolicy } from "./path.js";
import { EDGE_MARK_PARAM, recordRouteValues, shouldRecordRoute, type RouteSide } from "./record-route.js";
import { checkLoop, checkMaxForwards, checkProxyRequire, EDGE_SUPPORTED, type Rejection } from "./request-checks.js";
import { EDGE_BRANCH_PREFIX, loopHash, statelessBranch } from "./stateless-branch.js";
import { errorResponseForUnparsable } from "./unparsable.js";
import { EdgeCounters } from "./counters.js";
import { activeSpan, busTraceHeaders, contextFromTraceHeader, SipAttr, SpanKind, startSpan, TRACE_HEADER, traceHeaderValue, tracingEnabled, withSpan } from "@edgepath/telemetry";
import { LogThrottle } from "./log-throttle.js";
import { PING_TIMEOUT_REASON, UdpPinger } from "./udp-pinger.js";
import { checkRouteTrust, type RouteTrustContext } from "./route-trust.js";
import { checkMessageLimits, DEFAULT_MESSAGE_LIMITS, SOURCE_HEADER, type MessageLimits, type SourceRateLimiter, type SourceStamp } from "@edgepath/auth";

export interface EdgeProxyOptions {
  readonly id: string;
  /** Public listeners (phones, trunks). */
  readonly publicListen: readonly ListenSpec[];
  /** Internal SIP socket (UDP) where workers and other edges reach this edge. */
  readonly internalListen: HostPort;
  /** host:port others use for the internal socket; default: the bound internal address. */
  readonly internalAdvertise?: string;
  /**
   * Where clients reach us behind NAT or a load balancer (Kamailio's `advertise`): the host:port of
   * our own Via sent-by and public-side Record-Route, per transport or (no transport) for every
   * public listener; no port = the listener's.
   */
  readonly publicAdvertise?: readonly { readonly transport?: TransportKind; readonly host: string; readonly port?: number }[];
  readonly domains: readonly string[];
  /** EDGEPATH_DOMAIN_ALIASES: other hosts that name one of `domains` (alias -> domain). */
  readonly domainAliases?: ReadonlyMap<string, string>;
  readonly flowTokens: FlowTokenCodec;
  readonly ring: AorRing;
  readonly bus?: ClusterBus;
  readonly logger: Logger;
  readonly pathPolicy?: PathPolicy;
  readonly limits?: Partial<TransportLimits>;
  /** Certificate files for tls/wss listeners and outbound TLS (reloaded when they change). */
  readonly tls?: TlsSettings;
  /** Addresses (host:port) of internal peers: the outbound side for them is the internal socket. */
  readonly isInternalPeer?: (hostPort: string) => boolean;
  /** DESIGN §6 admission at the public side; absent = no rate limit, default shape limits. */
  readonly admission?: EdgeAdmission;
  /** Internal addresses (host:port) of the other edges (edge membership), for the Route trust check. */
  readonly peerEdges?: () => ReadonlySet<string>;
  /** DESIGN §3: OPTIONS pinging of UDP flows with registered contacts; absent or interval 0 = off. */
  readonly udpPing?: { readonly intervalMs: number; readonly timeoutMs: number };
}

/** Trust-boundary settings of the edge (DESIGN §6), built by the service from config. */
export interface EdgeAdmission {
  /** Per-source token bucket over requests from the public side. */
  readonly rate?: SourceRateLimiter;
  /** Over the rate: 503 with Retry-After (RFC 3261 §21.5.4), or a silent drop. */
  readonly rateAction?: "reply" | "drop";
  readonly limits?: MessageLimits;
  /** Stamps requests to workers with their public source address (trusted-CIDR bypass). */
  readonly sourceStamp?: SourceStamp;
}

const INITIAL_MAX_FORWARDS = 70;
const ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK";

interface Outbound {
  /** Flow to send on: a UDP socket + remote, or a connection. */
  readonly flow: FlowDescriptor | undefined;
  /** Or a target to send to (new/reused connection, or datagram). */
  readonly target: { readonly transport: TransportKind; readonly address: string; readonly port: number; readonly serverName?: string } | undefined;
  /** Which of our sides the request leaves through. */
  readonly side: RouteSide;
  /** Leaves through the internal socket (workers, other edges). */
  readonly internal: boolean;
}

export class EdgeProxy {
  readonly counters = new EdgeCounters();
  private readonly transport: TransportLayer;
  private readonly own = new OwnAddresses();
  private readonly served: ServedDomains;
  private readonly log: Logger;
  private internal: HostPort = { host: "", port: 0 };
  /** The cluster's mark for our internal address, on our internal Record-Route entries (record-route.ts). */
  private internalMark = "";
  private internalListener: BoundListener | undefined;
  private publicListeners: BoundListener[] = [];
  /** Public listener -> its advertised address (EdgeProxyOptions.publicAdvertise), built once at start. */
  private readonly advertisedOf = new Map<BoundListener, HostPort>();
  private readonly branchSalt: string;
  private readonly dnsCache = new Map<string, { address: string; until: number }>();
  /** Drops and rejections are logged once per reason and source per interval (DESIGN §6). */
  private readonly logThrottle = new LogThrottle();
  /** performance.now() of the last message in either direction; {@link drain} waits for quiet. */
  private lastMessageAt = 0;
  /** DESIGN §3: pings UDP flows with registered contacts (EdgeProxyOptions.udpPing). */
  private readonly pinger: UdpPinger | undefined;
  /** DESIGN §6: which Route entries from the public side name our internals (route-trust.ts). */
  private readonly routeTrust: RouteTrustContext;
  private workerAddrs: { version: number; set: ReadonlySet<string> } = { version: -1, set: new Set() };
  /** Flow token -> when its "gone" was last published (reportFlowGone). */
  private readonly flowGoneReported = new Map<string, number>();

  constructor(private readonly opts: EdgeProxyOptions) {
    this.log = opts.logger;
    this.routeTrust = {
      codec: opts.flowTokens,
      isWorker: (host, port) => this.isWorkerAddress(host, port),
      isInternal: (host, port) => this.isInternalAddress(host, port),
    };
    this.pinger = opts.udpPing !== undefined && opts.udpPing.intervalMs > 0 ? this.createPinger(opts.udpPing) : undefined;
    this.served = new ServedDomains(opts.domains, opts.domainAliases ?? []);
    this.branchSalt = opts.id;
    const listen: ListenSpec[] = [
      ...opts.publicListen,
      { transport: "udp", host: opts.internalListen.host, port: opts.internalListen.port },
    ];
    this.transport = new TransportLayer({
      listen,
      limits: opts.limits ?? {},
      delegate: {
        onMessage: (bytes, flow) => this.onMessage(bytes, flow),
        onStreamError: (error, flow) => this.onStreamError(error, flow),
        onFlowClosed: (flow, reason) => this.onFlowClosed(flow, reason),
        onDrop: (reason, where) => this.onTransportDrop(reason, where),
        onTlsReload: (o) => {
          if (o.ok) this.log.info({ certFile: o.certFile }, "edge: TLS certificate reloaded");
          else this.log.error({ certFile: o.certFile, err: o.error }, "edge: TLS certificate reload failed, keeping the previous certificate");
        },
      },
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    });
  }

  async start(): Promise<{ internal: string; listeners: readonly BoundListener[] }> {
    const bound = await this.transport.start();
    const n = this.opts.publicListen.length;
    this.publicListeners = bound.slice(0, n);
    this.internalListener = bound[n];
    if (this.internalListener === undefined) throw new Error("edge: internal listener did not bind");
    const adv = this.opts.internalAdvertise !== undefined ? parseHostPort(this.opts.internalAdvertise) : undefined;
    this.internal = adv ?? { host: this.internalListener.host, port: this.internalListener.port };
    this.own.add(this.internal.host, this.internal.port);
    this.own.add(this.internalListener.host, this.internalListener.port);
    this.internalMark = this.opts.flowTokens.edgeMark(formatHostPort(this.internal));
    for (const l of this.publicListeners) {
      this.own.add(l.host, l.port);
      // RFC 3261 §16.4: on a wildcard listener every interface address is "us" (a TCP flow's
      // Record-Route names the address the connection arrived on; Kamailio's `myself` does the same).
      if (isWildcard(l.host)) for (const address of interfaceAddresses(l.host)) this.own.add(address, l.port);
      const adv = this.opts.publicAdvertise?.find((a) => a.transport === l.transport) ?? this.opts.publicAdvertise?.find((a) => a.transport === undefined);
      if (adv !== undefined) {
        // RFC 3261 §16.4: our advertised address is what comes back in Route and Via; it is "us".
        const address = { host: adv.host, port: adv.port ?? l.port };
        this.advertisedOf.set(l, address);
        this.own.add(address.host, address.port);
      }
    }
    const publicPorts = [...new Set([...this.publicListeners.map((l) => l.port), ...[...this.advertisedOf.values()].map((a) => a.port)])];
    // an alias is a name of a served domain: a Route naming it is this edge as well
    for (const d of [...this.served.domains, ...this.served.aliases.keys()]) this.own.addServedDomain(d, publicPorts);
    this.pinger?.start();
    return { internal: formatHostPort(this.internal), listeners: bound };
  }

  /** host:port of the internal socket as advertised to the cluster (Path URIs use it). */
  get internalAddress(): string {
    return formatHostPort(this.internal);
  }

  get listeners(): readonly BoundListener[] {
    return this.publicListeners;
  }

  flows(): FlowInfo[] {
    return this.transport.flows();
  }

  transportStats(): ReturnType<TransportLayer["stats"]> {
    return this.transport.stats();
  }

  async stopAccepting(): Promise<void> {
    await this.transport.stopAccepting();
  }

  /**
   * DESIGN §5, graceful drain step two (after {@link stopAccepting}): keep relaying while traffic
   * still flows, so responses to requests already forwarded reach their UAs and UDP
   * retransmissions of those transactions (RFC 3261 §17.1.2.2 Timer E) still reach the worker that
   * answers them. A stateless proxy (§16.11) keeps no transaction list to wait on, so "drained"
   * means no message in either direction for `quietMs` (choose it above T1, 500 ms, so a pending
   * UDP retransmission keeps the edge open), bounded by `timeoutMs` under sustained load.
   */
  async drain(opts: { quietMs: number; timeoutMs: number }): Promise<void> {
    const deadline = performance.now() + opts.timeoutMs;
    this.lastMessageAt = Math.max(this.lastMessageAt, performance.now());
    for (;;) {
      const now = performance.now();
      const quietFor = now - this.lastMessageAt;
      if (quietFor >= opts.quietMs || now >= deadline) return;
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(opts.quietMs - quietFor, deadline - now) + 1));
    }
  }

  async stop(): Promise<void> {
    this.pinger?.stop();
    await this.transport.stop();
  }

  // ---- ingress ----

  private onMessage(bytes: Buffer, flow: FlowInfo): void {
    this.lastMessageAt = performance.now();
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      this.rejectUnparsable(bytes, parsed.error, flow);
      return;
    }
    const msg = parsed.message;
    try {
      if (msg.kind === "request") {
        if (tracingEnabled()) this.onRequestTraced(msg, flow);
        else this.onRequest(msg, flow);
      }
      else this.onResponse(msg, flow);
    } catch (err) {
      // Accessors throw SipParseError for a malformed header first read here.
      if (isSipParseError(err) && msg.kind === "request") {
        this.reject(msg, flow, { status: err.sipStatus, reason: err.reason }, "bad-header");
        return;
      }
      this.counters.drop(isSipParseError(err) ? "bad-header" : "internal-error");
      this.log.warn({ err, src: remoteOf(flow), kind: msg.kind }, "edge: message dropped");
    }
  }

  /**
   * DESIGN §5: one span per inbound request. Only a request from our internal socket (a worker
   * or another edge) may name a parent in the internal trace header; from the public side the
   * header is never trusted (a trace starts here) and `send` strips it.
   */
  private onRequestTraced(req: SipRequest, flow: FlowInfo): void {
    const parent = contextFromTraceHeader(this.isInternalFlow(flow) ? req.header(TRACE_HEADER) : undefined);
    const span = startSpan(
      `edge ${req.method}`,
      SpanKind.SERVER,
      {
        [SipAttr.method]: req.method,
        [SipAttr.callId]: req.callId,
        [SipAttr.transport]: flow.transport,
        [SipAttr.flow]: flow.id === 0 ? remoteOf(flow) : `${remoteOf(flow)}#${flow.id}`,
        [SipAttr.edge]: this.opts.id,
      },
      parent,
    );
    try {
      withSpan(span, () => this.onRequest(req, flow));
    } finally {
      span.end();
    }
  }

  /** Dropped below SIP (oversize datagram, connection limit, backpressure...): counted and logged. */
  private onTransportDrop(reason: string, where: FlowInfo | DropSource): void {
    this.counters.drop(reason);
    const src = remoteOf(where);
    const suppressed = this.logThrottle.allow(`drop|${reason}|${where.remoteAddress}`);
    if (suppressed !== undefined) this.log.info({ src, reason, suppressed }, "edge: message dropped by the transport");
  }

  /**
   * RFC 3261 §18.3: a stream that cannot be framed (bad or missing Content-Length, a message
   * over the size limit) cannot be resynchronised: the transport closes the connection. No
   * response: the framer gives us no complete header section to build one from.
   */
  private onStreamError(error: SipParseError, flow: FlowInfo): void {
    this.counters.drop(`stream-${error.code}`);
    const suppressed = this.logThrottle.allow(`stream|${error.code}|${flow.remoteAddress}`);
    if (suppressed !== undefined) {
      this.log.info({ src: remoteOf(flow), status: error.sipStatus, code: error.code, reason: error.reason, detail: error.message, suppressed }, "edge: stream framing error, connection closed, message dropped");
    }
  }

  private onFlowClosed(flow: FlowInfo, reason: FlowCloseReason): void {
    if (flow.id === 0 || this.isInternalFlow(flow)) return;
    // DESIGN §3: a closed connection makes the bindings registered over it unreachable at once.
    const flowToken = tokenOf(this.opts.flowTokens, flow);
    this.opts.bus?.publish(Subjects.flowFailed, { flowToken, edge: this.internalAddress, reason, at: Date.now() });
  }

  private rejectUnparsable(bytes: Buffer, error: SipParseError, flow: FlowInfo): void {
    const response = errorResponseForUnparsable(bytes, error);
    // Answered: a rejection with its status. Unanswerable (no Via/CSeq, a response, an ACK): a drop.
    if (response !== undefined) this.counters.reject(error.sipStatus, error.code);
    else this.counters.drop(`unparsable-${error.code}`);
    const suppressed = this.logThrottle.allow(`unparsable|${error.code}|${flow.remoteAddress}`);
    if (suppressed !== undefined) {
      this.log.info(
        { src: remoteOf(flow), status: error.sipStatus, code: error.code, reason: error.reason, detail: error.message, bytes: bytes.length, suppressed },
        response !== undefined ? "edge: unparsable request answered with an error" : "edge: unparsable message dropped (no response possible)",
      );
    }
    if (response !== undefined) this.transport.sendOnFlow(response, flowToRef(flow));
  }

  private onRequest(req: SipRequest, flow: FlowInfo): void {
    this.counters.request(req.method);
    const topVia = req.topVia();
    const editor = req.edit();
    // RFC 3261 §18.2.1 / RFC 3581 §4: record where the request really came from.
    const receivedVia = viaWithReceived(topVia, flow.remoteAddress, flow.remotePort);
    if (receivedVia !== topVia.raw) editor.replaceTopValue("via", receivedVia);
    if (!this.admit(req, flow, receivedVia, topVia)) return;

    const routes = req.routes();
    const toTag = req.toTag();
    const inDialog = toTag !== undefined;
    // RFC 3261 §17.2.1 / §16.11: the ACK for a non-2xx answer the edge generated itself (403, 420,
    // 483, 503...) ends here; it names no dialog anyone else knows. Our To tag is derived from the
    // request (edgeToTag), so it is recognised without state.
    if (req.method === "ACK" && toTag !== undefined && toTag.startsWith(EDGE_TO_TAG_PREFIX) && toTag === edgeToTag(req)) {
      this.counters.drop("ack-for-own-answer");
      return;
    }

    // RFC 3261 §11 / §16.3 step 3: OPTIONS addressed to the edge itself is answered here
    // (keepalive and health checks of trunks and load balancers), even at Max-Forwards 0.
    if (req.method === "OPTIONS" && routes.length === 0 && !inDialog && this.isSelfUri(req)) {
      this.answerOptions(req, flow, receivedVia, topVia);
      return;
    }

    const rejection = checkMaxForwards(req) ?? checkProxyRequire(req);
    if (rejection !== undefined) {
      this.reject(req, flow, rejection, rejection.status === 483 ? "max-forwards" : "proxy-require", receivedVia, topVia);
      return;
    }
    const loopKey = loopHash(req, this.branchSalt);
    const loop = checkLoop(req, (h, p) => this.own.isOwn(h, p), loopKey);
    if (loop !== undefined) {
      this.reject(req, flow, loop, "loop", receivedVia, topVia);
      return;
    }
    const branch = statelessBranch(req, topVia, this.branchSalt, loopKey);

    const decision = decideRoute(req, this.own, this.opts.flowTokens, flow);
    // DESIGN §6: a Route set from outside never leads to our internals without our token.
    const fromPublic = !this.isInternalFlow(flow);
    let internalHopAllowed = true;
    if (decision.kind !== "reject" && routes.length > 0 && fromPublic) {
      const trust = checkRouteTrust(routes, decision.pop, decision.kind === "next-hop", this.routeTrust);
      if (!trust.ok) {
        this.reject(req, flow, trust, trust.why, receivedVia, topVia);
        return;
      }
      internalHopAllowed = trust.internalHopAllowed;
    }
    // On the internal socket only a worker may have us route on a Request-URI or a next hop. Another
    // edge hands us just the far half of a cross-edge dialog: our internal entry and our public entry
    // with the token of one of our flows (RFC 5658 double Record-Route), which decides "flow". Anything
    // else from it is a Route set a stranger wrote and that edge passed on (DESIGN §6). Keyed on
    // workers, not on known edges, so an edge we have not heard from yet is not trusted meanwhile.
    if (!fromPublic && decision.kind !== "reject" && decision.kind !== "flow" && !this.isWorkerAddress(flow.remoteAddress, flow.remotePort)) {
      this.reject(req, flow, RELAYING_FORBIDDEN, "relay-internal", receivedVia, topVia);
      return;
    }
    switch (decision.kind) {
      case "reject":
        this.reject(req, flow, decision, decision.why, receivedVia, topVia);
        return;
      case "flow":
        // DESIGN §6: a token naming our internal socket (the edge's Via `ft` on a request a worker
        // sent carries one) would put a stranger's request on the worker's doorstep: refused.
        if (this.isInternalFlow(decision.flow)) {
          this.reject(req, flow, { status: 403, reason: "Forbidden Route" }, "route-internal", receivedVia, topVia);
          return;
        }
        // Only workers start requests towards a UA's flow (along its Path, after their checks; they
        // reach us on the internal socket, where no public request arrives as an initial one). A new
        // request from outside over another party's flow (a token seen in a Record-Route) would
        // bypass them: a phone could place calls over a trunk's connection (RFC 3261 §26.3.2.1).
        if (!inDialog && fromPublic) {
          this.reject(req, flow, RELAYING_FORBIDDEN, "relay-flow", receivedVia, topVia);
          return;
        }
        for (let i = 0; i < decision.pop; i++) editor.removeTopValue("route");
        this.forwardToFlow(req, editor, flow, decision.flow, branch, inDialog, receivedVia, topVia);
        return;
      case "next-hop": {
        // From outside, the edge is not a relay (RFC 3261 §26.3.2.1 / DESIGN §6). Its dialogs end at
        // flows of ours, so the only hop past it a public request may take is to another edge of
        // ours in a cross-edge dialog: that edge's internal socket followed by its token-bearing
        // entry, which the far edge must resolve to one of its flows (the internal-socket check above).
        // A To tag, a Route and even a token of the sender's own flow (it gets one back in every
        // Path and Record-Route) are anyone's to write.
        if (fromPublic && (!inDialog || !internalHopAllowed)) {
          this.reject(req, flow, RELAYING_FORBIDDEN, "relay-route", receivedVia, topVia);
          return;
        }
        for (let i = 0; i < decision.pop; i++) editor.removeTopValue("route");
        const target = { transport: decision.transport, host: decision.host, port: decision.port };
        // Another edge's internal Record-Route entry carries the cluster's mark for its address, so
        // the hop is known to be one of ours also while membership is empty or stale (a NATS outage,
        // our own restart): established cross-edge calls keep working.
        const mark = decision.uri.params.get(EDGE_MARK_PARAM);
        const markedEdge = typeof mark === "string" && this.opts.flowTokens.isEdgeMark(formatHostPort({ host: decision.uri.host, port: target.port }), mark);
        this.resolveThen(target.host, req, flow, (address) => {
          const peerEdge = markedEdge || this.isPeerEdgeAddress(address, target.port);
          const internalHop = peerEdge || this.isInternalAddress(address, target.port);
          // Checked on the resolved address too: a name of the sender's may point anywhere.
          if (fromPublic && !peerEdge) {
            if (internalHop) this.reject(req, flow, { status: 403, reason: "Forbidden Route" }, "route-internal", receivedVia, topVia);
            else this.reject(req, flow, RELAYING_FORBIDDEN, "relay-route", receivedVia, topVia);
            return;
          }
          // An internal socket (ours, a worker's, another edge's) is reached from our internal socket, so
          // cross-edge in-dialog hops stay on the internal network and arrive where the peer trusts them.
          const side = internalHop ? this.internalSide() : this.publicSideFor(target.transport, undefined);
          // RFC 5922 §4.1: a TLS hop named by host name must present a certificate for that name.
          const serverName = target.transport === "tls" && isIP(target.host) === 0 ? { serverName: target.host } : {};
          this.send(req, editor, flow, branch, { flow: undefined, target: { transport: target.transport, address, port: target.port, ...serverName }, side, internal: internalHop }, inDialog);
        });
        return;
      }
      case "request-uri":
        // The same keepalive sent through us as outbound proxy (Route: <sip:example.com;lr>).
        if (req.method === "OPTIONS" && !inDialog && this.isSelfUri(req)) {
          this.answerOptions(req, flow, receivedVia, topVia);
          return;
        }
        for (let i = 0; i < decision.pop; i++) editor.removeTopValue("route");
        this.routeOnRequestUri(req, editor, flow, branch, inDialog, receivedVia, topVia);
        return;
    }
  }

  /** RFC 3261 §11: the edge's own answer to OPTIONS addressed to it. */
  private answerOptions(req: SipRequest, flow: FlowInfo, receivedVia: string, topVia: Via): void {
    this.reply(req, flow, receivedVia, topVia, { status: 200, reason: "OK", headers: [["Allow", ALLOW], ["Accept", "application/sdp"], ["Supported", EDGE_SUPPORTED.join(", ")]] });
  }

  /** No Route left: REGISTERs and requests for local domains go to the worker that owns the AOR. */
  private routeOnRequestUri(req: SipRequest, editor: MessageEditor, flow: FlowInfo, branch: string, inDialog: boolean, receivedVia: string, topVia: Via): void {
    const ruri = req.requestUri();
    if (ruri.scheme === "tel") {
      this.reject(req, flow, { status: 404, reason: "No Route For tel URI" }, "tel-uri", receivedVia, topVia);
      return;
    }
    const local = this.isLocalDomain(ruri.host);
    if (!local) {
      if (this.isInternalFlow(flow)) {
        // Egress from our workers to a non-local target (e.g. a trunk): plain forwarding.
        const tp = ruri.params.get("transport");
        const transport: TransportKind = ruri.scheme === "sips" || tp === "tls" ? "tls" : tp === "tcp" ? "tcp" : "udp";
        const port = ruri.port ?? (transport === "tls" ? 5061 : 5060); // RFC 3261 §19.1.2
        // RFC 5922 §4.1: the server's certificate must name the host the URI named.
        const serverName = transport === "tls" && isIP(ruri.host) === 0 ? { serverName: ruri.host } : {};
        this.resolveThen(ruri.host, req, flow, (address) => {
          this.send(req, editor, flow, branch, { flow: undefined, target: { transport, address, port, ...serverName }, side: this.publicSideFor(transport, undefined), internal: false }, inDialog);
        });
        return;
      }
      this.reject(req, flow, RELAYING_FORBIDDEN, "relay", receivedVia, topVia);
      return;
    }
    let aor: string;
    try {
      // an alias host (the edge's IP in a trunk's Request-URI, a phone registered by IP) is its domain
      aor = this.served.aorOf(req.method === "REGISTER" ? req.to().uri : ruri);
      if (tracingEnabled()) activeSpan()?.setAttribute(SipAttr.aor, aor);
    } catch (err) {
      const header = req.method === "REGISTER" ? "To" : "Request-URI";
      this.reject(req, flow, { status: isSipParseError(err) ? err.sipStatus : 400, reason: `Bad ${header}` }, "bad-aor", receivedVia, topVia);
      return;
    }
    const owner = this.opts.ring.ownerOf(aor);
    if (owner === undefined) {
      this.reject(req, flow, { status: 503, reason: "No Registrar Available", headers: [["Retry-After", "5"]] }, "ring-empty", receivedVia, topVia);
      return;
    }
    if (req.method === "REGISTER") {
      const path = decidePath(req, this.opts.pathPolicy ?? "insert");
      if (!path.insert) {
        this.reject(req, flow, path, "path-unsupported", receivedVia, topVia);
        return;
      }
      // RFC 3327 §5.2: our Path URI goes on top of any Path already present.
      editor.prependHeader("Path", pathValue(tokenOf(this.opts.flowTokens, flow), this.internal, path.outbound));
      if (this.pinger !== undefined && flow.transport === "udp") this.pinger.noteRegister(req, aor);
    }
    this.forwardToWorker(req, editor, flow, branch, owner, inDialog);
  }

  private forwardToWorker(req: SipRequest, editor: MessageEditor, flow: FlowInfo, branch: string, owner: RingMember, inDialog: boolean): void {
    const hp = parseHostPort(owner.sipAddress);
    if (hp === undefined) {
      this.counters.drop("bad-member-address");
      return;
    }
    if (tracingEnabled()) activeSpan()?.setAttribute(SipAttr.worker, owner.id);
    this.send(req, editor, flow, branch, { flow: undefined, target: { transport: "udp", address: hp.host, port: hp.port }, side: this.internalSide(), internal: true }, inDialog);
  }

  /** A request for a UA on one of our flows (Route = our Path / Record-Route with a token). */
  private forwardToFlow(req: SipRequest, editor: MessageEditor, inbound: FlowInfo, target: FlowDescriptor, branch: string, inDialog: boolean, receivedVia: string, topVia: Via): void {
    if (!this.flowAlive(target)) {
      // RFC 5626 §5.3: "If the flow ... no longer exists, the proxy MUST send a 430 (Flow Failed) response."
      // Only our own flows are reported: a token another edge issued (replicas behind one load
      // balancer address share advertised Route entries) names a flow that may be alive there.
      if (this.own.isOwn(target.localAddress, target.localPort)) this.reportFlowGone(target);
      this.reject(req, inbound, { status: 430, reason: "Flow Failed" }, "flow-failed", receivedVia, topVia);
      return;
    }
    this.send(req, editor, inbound, branch, { flow: target, target: undefined, side: this.publicSideFor(target.transport, target), internal: false }, inDialog);
  }

  private send(req: SipRequest, editor: MessageEditor, inbound: FlowInfo, branch: string, out: Outbound, inDialog: boolean): void {
    const mf = req.maxForwards();
    editor.setMaxForwards((mf ?? INITIAL_MAX_FORWARDS + 1) - 1);
    if (shouldRecordRoute(req.method, inDialog)) {
      const inboundSide = this.isInternalFlow(inbound) ? this.internalSide() : this.publicSideFor(inbound.transport, inbound);
      for (const value of recordRouteValues(inboundSide, out.side)) editor.prependHeader("Record-Route", value);
    }
    // Our Via: responses come back to this side, and `ft` names the inbound flow so the
    // response leaves over it (signed, so a forged Via cannot steer responses).
    const ft = tokenOf(this.opts.flowTokens, inbound);
    editor.prependHeader("Via", `SIP/2.0/${out.side.transport.toUpperCase()} ${formatHostPort(out.side.address)};branch=${branch};ft=${ft}`);
    // Towards a worker: when we sent it (@edgepath/cluster overload.ts), from which the worker's
    // overload control measures queueing delay. Internal only: replaced on the way in, removed on
    // the way out to the public side (a worker proxying a request back out keeps it).
    if (out.internal) editor.setHeader(EDGE_SENT_AT_HEADER, edgeSentAtValue());
    else if (req.hasHeader(EDGE_SENT_AT_HEADER)) editor.removeHeader(EDGE_SENT_AT_HEADER);
    // DESIGN §5: the internal trace header names our span towards our own hops and never
    // leaves on the public side (nor passes through from it).
    const traceparent = out.internal && tracingEnabled() ? traceHeaderValue(activeSpan()) : undefined;
    if (traceparent !== undefined) editor.setHeader(TRACE_HEADER, traceparent);
    else if (req.hasHeader(TRACE_HEADER)) editor.removeHeader(TRACE_HEADER);
    // DESIGN §6: the source stamp is ours alone. A request from the public side going to a worker
    // gets a fresh one (replacing any sent from outside); nothing carries one to the public side.
    const stamp = this.opts.admission?.sourceStamp;
    if (stamp !== undefined && out.internal && !this.isInternalFlow(inbound)) {
      editor.setHeader(SOURCE_HEADER, stamp.value(inbound.remoteAddress, req.callId, req.cseq().seq));
    } else if ((!out.internal || !this.isInternalFlow(inbound)) && req.hasHeader(SOURCE_HEADER)) editor.removeHeader(SOURCE_HEADER);
    const bytes = editor.toBuffer();
    const result =
      out.flow !== undefined
        ? this.transport.sendOnFlow(bytes, flowRefOf(out.flow))
        : out.internal && out.target!.transport === "udp"
          ? this.transport.sendOnFlow(bytes, {
              id: 0,
              transport: "udp",
              remoteAddress: out.target!.address,
              remotePort: out.target!.port,
              localAddress: this.internalListener!.host,
              localPort: this.internalListener!.port,
            })
          : this.transport.send(bytes, out.target!);
    if (!result.ok) {
      this.counters.drop(`send-${result.reason}`);
      this.log.info({ method: req.method, callId: req.callId, reason: result.reason }, "edge: forward failed");
      if (req.method !== "ACK") {
        // A closed flow of ours is RFC 5626's 430; anything else is a transport error (RFC 3261 §16.9).
        this.reply(req, inbound, undefined, undefined, result.reason === "flow-gone" ? { status: 430, reason: "Flow Failed" } : this.nextHopFailure(inbound, "Next Hop Unreachable"));
      }
      return;
    }
    this.counters.forwarded(req.method);
  }

  // ---- responses ----

  private onResponse(res: SipResponse, flow: FlowInfo): void {
    // DESIGN §3: answers to our own OPTIONS pings end here (RFC 3261 §11: any answer = alive).
    if (this.pinger?.onResponse(res, flow) === true) return;
    this.counters.response(res.status);
    const top = res.topVia();
    const topPort = top.port ?? 5060;
    if (top.branch === undefined || !top.branch.startsWith(EDGE_BRANCH_PREFIX) || !this.own.isOwn(top.host, topPort)) {
      // RFC 3261 §16.7 step 3 / §18.2.2: a response whose top Via is not ours is discarded.
      this.dropResponse(res, flow, "response-not-ours", "top Via is not this edge's");
      return;
    }
    // Our Via names the side the request left on (internal address towards workers and other edges,
    // a public one towards UAs), and the answer must come back on that side. Otherwise anyone who
    // saw the Vias of a request (the callee sees them all) could send a made-up answer from the
    // public side into the caller's flow.
    if ((top.host === this.internal.host && topPort === this.internal.port) !== this.isInternalFlow(flow)) {
      this.dropResponse(res, flow, "response-wrong-side", "our Via's side is not the side the response arrived on");
      return;
    }
    const ft = top.params.get("ft");
    const decoded = ft ? this.opts.flowTokens.decode(ft) : undefined;
    if (decoded === undefined || !decoded.ok) {
      this.dropResponse(res, flow, "response-bad-ft", decoded === undefined ? "our Via has no ft parameter" : `flow token in our Via did not verify (${decoded.reason})`);
      return;
    }
    if (this.pinger !== undefined && decoded.flow.transport === "udp" && res.cseq().method === "REGISTER") this.pinger.noteRegisterResponse(res, ft!, decoded.flow);
    const edit = res.edit().removeTopValue("via");
    if (res.hasHeader(TRACE_HEADER)) edit.removeHeader(TRACE_HEADER); // DESIGN §5: internal only
    const bytes = edit.toBuffer();
    const result = this.transport.sendOnFlow(bytes, flowRefOf(decoded.flow));
    if (!result.ok) {
      this.counters.drop(`response-${result.reason}`);
      this.log.info({ status: res.status, callId: res.callId, reason: result.reason, from: remoteOf(flow) }, "edge: response could not be sent back");
    }
  }

  /**
   * DESIGN §6 limits on requests from the public side: per-source rate (token bucket), header
   * count, Via depth, Route depth. Every refusal is counted; logs are throttled per source.
   */
  private admit(req: SipRequest, flow: FlowInfo, receivedVia: string, topVia: Via): boolean {
    if (this.isInternalFlow(flow)) return true;
    const a = this.opts.admission;
    const rate = a?.rate?.take(flow.remoteAddress, Date.now());
    if (rate !== undefined && !rate.ok) {
      if (a?.rateAction === "drop" || req.method === "ACK") {
        this.counters.drop("rate-limit");
        const suppressed = this.logThrottle.allow(`drop|rate-limit|${flow.remoteAddress}`);
        if (suppressed !== undefined) this.log.info({ src: remoteOf(flow), method: req.method, suppressed }, "edge: request over the source's rate dropped");
      } else {
        this.reject(req, flow, { status: 503, reason: "Rate Limit Exceeded", headers: [["Retry-After", String(rate.retryAfterSec)]] }, "rate-limit", receivedVia, topVia);
      }
      return false;
    }
    const over = checkMessageLimits(req, a?.limits ?? DEFAULT_MESSAGE_LIMITS);
    if (over !== undefined) {
      this.reject(req, flow, over, over.why, receivedVia, topVia);
      return false;
    }
    return true;
  }

  private dropResponse(res: SipResponse, flow: FlowInfo, reason: string, why: string): void {
    this.counters.drop(reason);
    const suppressed = this.logThrottle.allow(`response|${reason}|${flow.remoteAddress}`);
    if (suppressed !== undefined) this.log.info({ status: res.status, callId: res.callId, src: remoteOf(flow), reason, why, suppressed }, "edge: response dropped");
  }

  // ---- helpers ----

  private internalSide(): RouteSide {
    return { address: this.internal, transport: "udp", edgeMark: this.internalMark };
  }

  /** The public-side address for a flow of this transport, with the flow's token when it is a UA flow. */
  private publicSideFor(transport: TransportKind, flow: FlowInfo | FlowDescriptor | undefined): RouteSide {
    const listener =
      this.publicListeners.find((l) => l.transport === transport && (flow === undefined || l.port === flow.localPort)) ??
      this.publicListeners.find((l) => l.transport === transport) ??
      this.publicListeners[0]!;
    // A wildcard listener: the address the flow arrived on (a connection knows it; a UDP socket does
    // not, which is why config always advertises one for a wildcard UDP listener).
    const host = isWildcard(listener.host) && flow !== undefined && !isWildcard(flow.localAddress) ? flow.localAddress : listener.host;
    const address = this.advertisedOf.get(listener) ?? { host, port: listener.port };
    const flowToken =
      flow === undefined ? undefined : "connectionId" in flow ? this.opts.flowTokens.encode(flow) : tokenOf(this.opts.flowTokens, flow);
    return flowToken === undefined ? { address, transport } : { address, transport, flowToken };
  }

  private createPinger(o: { readonly intervalMs: number; readonly timeoutMs: number }): UdpPinger {
    return new UdpPinger({
      intervalMs: o.intervalMs,
      timeoutMs: o.timeoutMs,
      delegate: {
        sendPing: (bytes, flow) => this.transport.sendOnFlow(bytes, flowRefOf(flow)).ok,
        sentBy: (flow) => formatHostPort(this.publicSideFor("udp", flow).address),
        flowFailed: (flowToken, aors) => {
          this.log.info({ flowToken, aors: aors.length, reason: PING_TIMEOUT_REASON }, "edge: UDP flow stopped answering OPTIONS pings");
          this.opts.bus?.publish(Subjects.flowFailed, { flowToken, edge: this.internalAddress, reason: PING_TIMEOUT_REASON, at: Date.now() });
        },
        flowAlive: (flowToken, aors) => {
          this.log.info({ flowToken, aors: aors.length }, "edge: UDP flow answers OPTIONS pings again");
          this.opts.bus?.publish(Subjects.flowAlive, { flowToken, edge: this.internalAddress, aors: [...aors], at: Date.now() });
        },
      },
    });
  }

  /** A registrar worker's internal address (the ring's members), cached per ring version. */
  private isWorkerAddress(host: string, port: number): boolean {
    const ring = this.opts.ring;
    if (this.workerAddrs.version !== ring.version) {
      const set = new Set<string>();
      for (const m of ring.members()) {
        const hp = parseHostPort(m.sipAddress);
        if (hp !== undefined) set.add(formatHostPort(hp));
      }
      this.workerAddrs = { version: ring.version, set };
    }
    return this.workerAddrs.set.has(formatHostPort({ host: host.toLowerCase(), port }));
  }

  /** Any internal SIP socket of ours: this edge's, a worker's, another edge's, a configured internal peer's. */
  private isInternalAddress(host: string, port: number): boolean {
    const h = host.toLowerCase();
    if (h === this.internal.host && port === this.internal.port) return true;
    const l = this.internalListener;
    if (l !== undefined && !isWildcard(l.host) && h === l.host && port === l.port) return true;
    if (this.isWorkerAddress(h, port)) return true;
    return this.isPeerEdgeAddress(h, port) || this.opts.isInternalPeer?.(formatHostPort({ host: h, port })) === true;
  }

  /** The flow (a live one, or one a token names) is on our internal socket: a worker's or another edge's hop to us. */
  private isInternalFlow(flow: Pick<FlowDescriptor, "transport" | "localAddress" | "localPort">): boolean {
    const l = this.internalListener;
    return l !== undefined && flow.transport === "udp" && flow.localPort === l.port && (flow.localAddress === l.host || isWildcard(l.host));
  }

  /**
   * Tells the workers that a flow a request named is gone (DESIGN §3), once per token per
   * FLOW_GONE_REPORT_MS: every worker updates the store for each event, and anyone holding a
   * dead flow's token could otherwise turn each request they send into that much work.
   */
  private reportFlowGone(target: FlowDescriptor): void {
    const flowToken = this.opts.flowTokens.encode(target);
    const now = Date.now();
    const last = this.flowGoneReported.get(flowToken);
    if (last !== undefined && now - last < FLOW_GONE_REPORT_MS) return;
    if (this.flowGoneReported.size >= FLOW_GONE_REPORTS_HELD) this.flowGoneReported.clear();
    this.flowGoneReported.set(flowToken, now);
    this.opts.bus?.publish(Subjects.flowFailed, { flowToken, edge: this.internalAddress, reason: "gone", at: now }, tracingEnabled() ? busTraceHeaders(activeSpan()) : undefined);
  }

  private flowAlive(d: FlowDescriptor): boolean {
    if (d.transport === "udp") return this.publicListeners.some((l) => l.transport === "udp" && l.port === d.localPort) || this.internalListener?.port === d.localPort;
    const current = this.transport.getFlow(d.connectionId);
    return current !== undefined && isSameFlow(d, current);
  }

  private isLocalDomain(host: string): boolean {
    return this.served.has(host) || this.own.isOwnHost(host);
  }

  private isSelfUri(req: SipRequest): boolean {
    const uri = req.requestUri();
    if (uri.scheme === "tel") return false;
    return (uri.user === undefined && this.isLocalDomain(uri.host)) || this.own.isOwnUri(uri as SipUri);
  }

  private resolveThen(host: string, req: SipRequest, flow: FlowInfo, then: (address: string) => void): void {
    if (isIP(host) !== 0) {
      then(host);
      return;
    }
    const cached = this.dnsCache.get(host);
    if (cached !== undefined && cached.until > Date.now()) {
      then(cached.address);
      return;
    }
    // RFC 3263 in its simplest form (A/AAAA); SRV/NAPTR are not consulted.
    lookup(host).then(
      (r) => {
        this.dnsCache.set(host, { address: r.address, until: Date.now() + 60_000 });
        then(r.address);
      },
      () => {
        if (req.method !== "ACK") this.reply(req, flow, undefined, undefined, this.nextHopFailure(flow, "Next Hop Not Resolvable"));
        this.counters.drop("dns");
      },
    );
  }

  /**
   * The answer for a next hop the edge could not send to or resolve. RFC 3261 §16.9 treats it as a
   * 503 from that hop, and §16.7 step 6 has a proxy answer 500 upstream instead: a 503 tells a
   * client that this edge (which serves every worker) is unavailable (§21.5.4). Towards our own
   * worker (a branch it forked along a Path) the 503 stays: the worker counts it as that binding
   * being unreachable and never passes it upstream (location-proxy.ts). A peer edge relays
   * responses statelessly, so it gets the 500 its UA should see.
   */
  private nextHopFailure(inbound: FlowInfo, reason: string): Rejection {
    return { status: this.isInternalFlow(inbound) && this.isWorkerAddress(inbound.remoteAddress, inbound.remotePort) ? 503 : 500, reason };
  }

  /** host:port is another edge's internal socket (live membership, DESIGN §4). */
  private isPeerEdgeAddress(host: string, port: number): boolean {
    return this.opts.peerEdges?.().has(formatHostPort({ host: host.toLowerCase(), port })) === true;
  }


  private reject(req: SipRequest, flow: FlowInfo, rejection: Rejection, why: string, receivedVia?: string, topVia?: Via): void {
    this.counters.reject(rejection.status, why);
    const suppressed = this.logThrottle.allow(`reject|${why}|${flow.remoteAddress}`);
    if (suppressed !== undefined) {
      this.log.info(
        { method: req.method, callId: req.callId, src: remoteOf(flow), status: rejection.status, reason: rejection.reason, why, answered: req.method !== "ACK", suppressed },
        "edge: request rejected",
      );
    }
    // RFC 3261 §17: an ACK is never answered.
    if (req.method === "ACK") return;
    this.reply(req, flow, receivedVia, topVia, rejection);
  }

  /**
   * A response generated here goes straight back over the inbound flow (RFC 3261 §18.2.2), with
   * the sender's Via carrying `received`/`rport` (RFC 3581 §4); computed here when the caller
   * (a late failure path) did not keep it.
   */
  private reply(req: SipRequest, flow: FlowInfo, receivedVia: string | undefined, topVia: Via | undefined, r: Rejection): void {
    if (topVia === undefined) {
      topVia = req.topVia();
      receivedVia = viaWithReceived(topVia, flow.remoteAddress, flow.remotePort);
    }
    if (tracingEnabled()) {
      const span = activeSpan();
      if (span?.isRecording() === true) span.setAttribute(SipAttr.statusCode, r.status);
    }
    let bytes = buildResponse(req, r.status, r.reason, { headers: r.headers ?? [], ...(r.status > 100 ? { toTag: edgeToTag(req) } : {}) });
    if (receivedVia !== undefined && receivedVia !== topVia.raw) {
      const parsed = parseMessage(bytes);
      if (parsed.ok) bytes = parsed.message.edit().replaceTopValue("via", receivedVia).toBuffer();
    }
    this.transport.sendOnFlow(bytes, flowToRef(flow));
  }
}

function isSipParseError(err: unknown): err is SipParseError {
  return err instanceof Error && err.name === "SipParseError";
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

/** Every local interface address a wildcard listener accepts on ("::" is dual-stack in Node). */
function interfaceAddresses(wildcard: string): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (wildcard !== "0.0.0.0" || i.family === "IPv4") out.push(i.address);
  }
  return out;
}

function remoteOf(flow: FlowInfo | DropSource): string {
  return `${flow.transport}:${formatHostPort({ host: flow.remoteAddress, port: flow.remotePort })}`;
}

function flowToRef(flow: FlowInfo): ReturnType<typeof flowRefOf> {
  return flowRefOf(descriptorOf(flow));
}

/** A gone flow is reported to the workers at most this often (they act on the first report). */
const FLOW_GONE_REPORT_MS = 10_000;
/** Bound on the tokens remembered for that; past it the memory starts over. */
const FLOW_GONE_REPORTS_HELD = 10_000;

const RELAYING_FORBIDDEN: Rejection = { status: 403, reason: "Relaying Forbidden" };

/** Every To tag the edge gives its own answers starts with this (a cheap first test for their ACKs). */
const EDGE_TO_TAG_PREFIX = "ep";

/**
 * The From tag and the CSeq number, or those values' text where they do not parse: both are parsed
 * when first read, and edgeToTag also serves the answer to exactly that error (400 Bad Header: From
 * or CSeq), which must not throw. Retransmissions carry the same text, so the tag derived from it
 * is stable too.
 */
function fromTagOrText(req: SipRequest): string {
  try {
    return req.fromTag() ?? "";
  } catch {
    return req.header("from") ?? "";
  }
}

function cseqOrText(req: SipRequest): string {
  try {
    return String(req.cseq().seq);
  } catch {
    return req.header("cseq") ?? "";
  }
}

/**
 * RFC 3261 §8.2.6.2: a stateless UAS must give the same To tag to retransmissions of a
 * request; derive it from the request's identity instead of remembering it.
 */
function edgeToTag(req: SipRequest): string {
  let h = 0x811c9dc5;
  const s = `${req.callId}|${fromTagOrText(req)}|${cseqOrText(req)}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `${EDGE_TO_TAG_PREFIX}${(h >>> 0).toString(36)}`;
}
