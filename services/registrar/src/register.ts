/**
 * REGISTER processing: RFC 3261 §10.3 (all eight steps), RFC 3327 §5.3 (Path), RFC 5626 §6
 * (outbound: instance-id + reg-id bindings, flow tokens).
 *
 * Pure decisions plus exactly one store call (`BindingStore.register`, atomic: RFC 3261 §10.3
 * step 7 "committed if and only if all binding updates and additions succeed"). The caller (the
 * worker) owns the server transaction, so a retransmitted REGISTER is absorbed there and never
 * reaches this function twice (it would otherwise fail the Call-ID/CSeq ordering check).
 *
 * Choices an operator should know about:
 * - Option tags we support (RFC 3261 §8.2.2.3): `path` (RFC 3327) and `outbound` (RFC 5626).
 *   `gruu` (RFC 5627) is NOT supported: `Require: gruu` gets 420 with `Unsupported: gruu`.
 * - Step 1: a Request-URI whose host is not one of our domains gets `404 Domain Not Served Here`
 *   (the worker is not a general proxy, so it does not forward to other domains).
 * - Step 5: the To URI must be a SIP URI with a user part whose host is one of our domains
 *   (domains configured together are aliases of one realm); otherwise 404.
 * - Step 7: 423 only when 0 < requested < min(Min-Expires, 3600), exactly as §10.3 allows
 *   ("greater than zero AND smaller than one hour AND less than a registrar-configured minimum").
 *   Longer requests are clamped to `maxExpires`. A malformed `expires` value is a 400 naming the
 *   header (the edge already passed it, so it came from the UA as such).
 * - Binding identity (`key`): `INSTANCE;reg-id=N` (RFC 5626 §6, only when outbound applies),
 *   `inst:INSTANCE` (instance without a usable reg-id), otherwise the Contact URI normalised for
 *   RFC 3261 §19.1.4 comparison (see `contactKey`).
 * - RFC 5626 §6: outbound processing applies only when the top Path URI carries `ob`. Workers are
 *   never meant to be a UA's first hop; a REGISTER that arrives with a single Via and no Path is
 *   treated like one whose first hop lacks outbound support (the worker holds no UA flows).
 */
import { buildResponse, generateTag, parseSipUri, SipParseError } from "@edgepath/sip";
import type { Contact, ServedDomains, SipRequest, SipUri } from "@edgepath/sip";
import type { Binding, BindingStore, ContactChange } from "@edgepath/bindings";
import type { FlowTokenCodec } from "@edgepath/flow-token";

/** Option tags this registrar understands in Require (RFC 3261 §10.3 step 2, §8.2.2.3). */
export const SUPPORTED_OPTION_TAGS: readonly string[] = ["path", "outbound"];

/** RFC 3261 §20.19 / §20.10: delta-seconds is at most 2^32-1. */
const MAX_DELTA_SECONDS = 4294967295;
/** RFC 3261 §10.3 step 7: 423 only for requests "smaller than one hour". */
const ONE_HOUR = 3600;

export interface RegistrarSettings {
  /** Used when neither the Contact `expires` parameter nor an Expires header is present. */
  readonly defaultExpires: number;
  /** Min-Expires advertised in 423 (RFC 3261 §20.23). */
  readonly minExpires: number;
  /** Longer requests are shortened to this (RFC 3261 §10.3 step 7 "MAY choose an expiration less"). */
  readonly maxExpires: number;
  /** Bindings per AOR after a REGISTER; more gets 403 Too Many Contacts. */
  readonly maxContacts: number;
}

export interface RegisterContext {
  /** Domains served and their aliases (EDGEPATH_DOMAIN_ALIASES): a To naming an alias is the domain's AOR. */
  readonly domains: ServedDomains;
  readonly store: BindingStore;
  /** epoch ms */
  readonly now: number;
  readonly settings: RegistrarSettings;
  readonly flowTokens: FlowTokenCodec;
  /**
   * RFC 3261 §10.3 steps 3-4 (authentication, authorisation) hook: return a complete response
   * (401 challenge, 403) to send instead of processing, or undefined to go on. Digest auth is
   * wired here by a later change (DESIGN §6).
   */
  readonly authorize?: (req: SipRequest) => Promise<Buffer | undefined>;
  /** To tag for the response (RFC 3261 §8.2.6.2); random when not given. */
  readonly toTag?: string;
}

/** Which §10.3 step (or extension rule) rejected the REGISTER; for logs and metrics. */
export type RegisterStep =
  | "request" // malformed mandatory header (Call-ID, CSeq, To...)
  | "domain" // step 1
  | "require" // step 2
  | "auth" // steps 3-4
  | "aor" // step 5
  | "contact" // steps 6-7: Contact / `*` / reg-id syntax and rules
  | "expires" // step 7: Expires value / 423
  | "outbound" // RFC 5626 §6: 439
  | "store"; // step 7 commit: ordering, limits, backend

export type RegisterOutcome =
  | {
      readonly result: "ok";
      readonly status: 200;
      readonly aor: string;
      /** the store changed (a binding added, refreshed, or removed) */
      readonly changed: boolean;
      /** a lookup would route differently now; a pure refresh is not (see RegisterResult) */
      readonly routingChanged: boolean;
      /** bindings listed in the 200 */
      readonly contacts: number;
      /** `*` removal */
      readonly removedAll: boolean;
      /** no Contact: a query (RFC 3261 §10.2.3) */
      readonly query: boolean;
      /** RFC 5626 outbound processing applied (Require: outbound in the 200) */
      readonly outbound: boolean;
    }
  | {
      readonly result: "rejected";
      readonly status: number;
      readonly reason: string;
      readonly step: RegisterStep;
      readonly aor?: string;
      readonly detail?: string;
    };

export interface RegisterReply {
  readonly response: Buffer;
  readonly outcome: RegisterOutcome;
}

type Headers = Array<readonly [string, string]>;

/** RFC 3261 §10.3: process one REGISTER (not a retransmission) and build the final response. */
export async function handleRegister(req: SipRequest, ctx: RegisterContext): Promise<RegisterReply> {
  const toTag = ctx.toTag ?? generateTag();
  const reject = (
    status: number,
    reason: string,
    step: RegisterStep,
    extra?: { aor?: string | undefined; detail?: string | undefined; headers?: Headers },
  ): RegisterReply => {
    const outcome: RegisterOutcome = {
      result: "rejected",
      status,
      reason,
      step,
      ...(extra?.aor !== undefined ? { aor: extra.aor } : {}),
      ...(extra?.detail !== undefined ? { detail: extra.detail } : {}),
    };
    const opts = extra?.headers !== undefined ? { toTag, headers: extra.headers } : { toTag };
    return { response: buildResponse(req, status, reason, opts), outcome };
  };

  let step: RegisterStep = "request";
  let aor: string | undefined;
  try {
    // Touch the mandatory headers first so a malformed one is a 400 naming it, not a crash later.
    const callId = req.callId;
    const cseq = req.cseq().seq;

    // ---- Step 1: is the Request-URI's domain ours? ----
    step = "domain";
    const rHost = requestUriHost(req);
    if (rHost === undefined || !ctx.domains.has(rHost)) {
      return reject(404, "Domain Not Served Here", "domain", { detail: rHost ?? req.uri });
    }

    // ---- Step 2: Require (processed as a UAS does, §8.2.2.3) ----
    step = "require";
    const required = req.require();
    if (required.length > 0) {
      const unsupported = required.filter((t) => !SUPPORTED_OPTION_TAGS.includes(t));
      if (unsupported.length > 0) {
        return reject(420, "Bad Extension", "require", {
          detail: unsupported.join(", "),
          headers: [["Unsupported", unsupported.join(", ")]],
        });
      }
    }

    // ---- Steps 3-4: authentication and authorisation (hook) ----
    step = "auth";
    if (ctx.authorize !== undefined) {
      const challenge = await ctx.authorize(req);
      if (challenge !== undefined) {
        return {
          response: challenge,
          outcome: { result: "rejected", status: statusOf(challenge), reason: "Authorization Required", step: "auth" },
        };
      }
    }

    // ---- Step 5: address-of-record from To ----
    step = "aor";
    const aorResult = addressOfRecord(req.to().uri, ctx.domains);
    if (!aorResult.ok) return reject(404, "Not Found", "aor", { detail: aorResult.detail });
    aor = aorResult.aor;

    // ---- Steps 6-7: Contact ----
    step = "contact";
    const contacts = req.contacts();
    step = "expires";
    const headerExpires = req.expires();
    const supported = req.supported();
    const pathValues = req.paths().map((p) => p.raw);

    let removeAll = false;
    const changes: ContactChange[] = [];
    let outbound = false;
    if (contacts === "*") {
      // Step 6: "*" only alone and only with Expires: 0.
      step = "contact";
      if (req.headerValues("contact").length !== 1) {
        return reject(400, "Invalid Request: Contact * must be the only Contact", "contact", { aor });
      }
      if (headerExpires !== 0) {
        return reject(400, "Invalid Request: Contact * requires Expires: 0", "contact", { aor });
      }
      removeAll = true;
    } else if (contacts.length > 0) {
      const flow = flowFromPath(req, ctx.flowTokens);
      const ob = outboundApplies(req);
      // RFC 5626 §6: a reg-id counts only together with +sip.instance; a Contact with a reg-id
      // and no instance is an ordinary RFC 3261 binding (the reg-id is ignored, not an error).
      const hasRegId = contacts.some((c) => c.regId !== undefined && c.instance !== undefined);
      // RFC 5626 §6: the UA asked for outbound (reg-id + Supported: outbound, or Require:
      // outbound) but the first hop did not say `ob`: 439, so the UA can retry without outbound
      // (§4.2.1) instead of believing it has a flow. Without such a request the reg-id is ignored.
      const requiresOutbound = required.includes("outbound");
      if (!ob && (requiresOutbound || (hasRegId && supported.includes("outbound")))) {
        return reject(439, "First Hop Lacks Outbound Support", "outbound", { aor });
      }
      outbound = ob && hasRegId;

      const byKey = new Map<string, ContactChange>();
      const userAgent = req.header("user-agent");
      for (const c of contacts) {
        step = "contact";
        const checked = checkContact(c);
        if (!checked.ok) return reject(400, "Bad Header: Contact", "contact", { aor, detail: checked.detail });
        step = "expires";
        const requested = Math.min(checked.expires ?? headerExpires ?? ctx.settings.defaultExpires, MAX_DELTA_SECONDS);
        if (requested > 0 && requested < ONE_HOUR && requested < ctx.settings.minExpires) {
          return reject(423, "Interval Too Brief", "expires", {
            aor,
            detail: `requested ${requested}s`,
            headers: [["Min-Expires", String(ctx.settings.minExpires)]],
          });
        }
        const expires = Math.min(requested, ctx.settings.maxExpires);
        const useRegId = outbound && c.regId !== undefined && c.instance !== undefined;
        const key = bindingKey(c, checked.uri, useRegId);
        const binding: ContactChange["binding"] = {
          contact: c.uri,
          q: c.q ?? 1,
          path: pathValues,
          ...(c.instance !== undefined ? { instance: c.instance } : {}),
          ...(useRegId && c.regId !== undefined ? { regId: c.regId } : {}),
          ...(flow.edge !== undefined ? { edge: flow.edge } : {}),
          ...(flow.flowToken !== undefined ? { flowToken: flow.flowToken } : {}),
          ...(flow.transport !== undefined ? { transport: flow.transport } : {}),
          ...(flow.source !== undefined ? { source: flow.source } : {}),
          ...(userAgent !== undefined ? { userAgent } : {}),
        };
        if (useRegId && byKey.has(key)) {
          // RFC 5626 §4.2.1: one flow per reg-id; two Contacts with one instance/reg-id pair contradict.
          return reject(400, "Invalid Request: duplicate +sip.instance/reg-id", "contact", { aor, detail: key });
        }
        byKey.set(key, { key, expires, binding });
      }
      changes.push(...byKey.values());
    }

    // ---- Step 7 commit: one atomic store operation (ordering enforced there) ----
    step = "store";
    let result;
    try {
      result = await ctx.store.register({
        aor,
        callId,
        cseq,
        now: ctx.now,
        removeAll,
        changes,
        maxContacts: ctx.settings.maxContacts,
      });
    } catch (err) {
      // §10.3 step 7: a failed commit is a 500 and nothing is written (the store is atomic).
      return reject(500, "Server Internal Error: Binding Store Failed", "store", { aor, detail: errorText(err) });
    }
    if (!result.ok) {
      switch (result.code) {
        case "out-of-order":
          return reject(500, "Server Internal Error: Out Of Order Request", "store", { aor, detail: result.reason });
        case "too-many-contacts":
          return reject(403, "Too Many Contacts", "store", { aor, detail: result.reason });
        case "unavailable":
          return reject(503, "Service Unavailable", "store", {
            aor,
            detail: result.reason,
            headers: [["Retry-After", String(result.retryAfter)]],
          });
      }
    }

    // ---- Step 8: 200 OK with every current binding ----
    const headers: Headers = [];
    for (const b of result.bindings) headers.push(["Contact", contactValue(b, ctx.now)]);
    if (outbound) headers.push(["Require", "outbound"]);
    headers.push(["Supported", SUPPORTED_OPTION_TAGS.join(", ")]);
    // RFC 3327 §5.3: echo the Path vector only to a UA that said it understands it.
    if (supported.includes("path")) for (const p of pathValues) headers.push(["Path", p]);
    headers.push(["Date", new Date(ctx.now).toUTCString()]); // RFC 1123 date, GMT (§20.17)
    return {
      response: buildResponse(req, 200, "OK", { toTag, headers }),
      outcome: {
        result: "ok",
        status: 200,
        aor,
        changed: result.changed,
        routingChanged: result.routingChanged,
        contacts: result.bindings.length,
        removedAll: removeAll,
        query: !removeAll && changes.length === 0,
        outbound,
      },
    };
  } catch (err) {
    // Header accessors throw SipParseError naming the header (400 "Bad Header: Expires", ...).
    if (err instanceof SipParseError) {
      return reject(err.sipStatus >= 400 && err.sipStatus < 500 ? err.sipStatus : 400, err.reason, step, {
        aor,
        detail: err.message,
      });
    }
    throw err;
  }
}

/** Host of the Request-URI (lower-case), undefined for a non-SIP URI. */
function requestUriHost(req: SipRequest): string | undefined {
  let u;
  try {
    u = req.requestUri();
  } catch {
    return undefined;
  }
  return u.scheme === "tel" ? undefined : u.host;
}

/** RFC 3261 §10.3 step 5. */
export function addressOfRecord(
  toUri: string,
  domains: ServedDomains,
): { ok: true; aor: string } | { ok: false; detail: string } {
  let u: SipUri;
  try {
    u = parseSipUri(toUri);
  } catch (err) {
    return { ok: false, detail: `To URI is not a valid SIP URI: ${errorText(err)}` };
  }
  if (u.user === undefined || u.user === "") return { ok: false, detail: "To URI has no user part" };
  if (!domains.has(u.host)) return { ok: false, detail: `To domain ${u.host} is not served here` };
  return { ok: true, aor: domains.aorOf(u) };
}

type CheckedContact = { ok: true; uri: SipUri; expires: number | undefined } | { ok: false; detail: string };

function checkContact(c: Contact): CheckedContact {
  let uri: SipUri;
  try {
    uri = parseSipUri(c.uri);
  } catch (err) {
    // We can only route to SIP/SIPS contacts (RFC 3261 §16.5 target set for a SIP proxy).
    return { ok: false, detail: `Contact URI ${c.uri}: ${errorText(err)}` };
  }
  const raw = c.params.get("expires");
  let expires: number | undefined;
  if (raw !== undefined) {
    if (raw === null || !/^[0-9]{1,10}$/.test(raw)) return { ok: false, detail: `expires=${raw ?? ""}` };
    expires = Number(raw);
  }
  if (c.q !== undefined && !(c.q >= 0 && c.q <= 1)) return { ok: false, detail: `q=${c.q}` };
  return { ok: true, uri, expires };
}

/**
 * Binding identity within an AOR (store contract `Binding.key`).
 *
 * Without +sip.instance, RFC 3261 §10.3 step 7 matches bindings "using the URI comparison rules"
 * of §19.1.4. A key string cannot express "parameters present on only one side are ignored", so
 * the key keeps the components that always take part in the comparison (scheme, user and password
 * case-sensitive, host case-insensitive, port as written — a default port is NOT equivalent to an
 * absent one) plus the URI parameters §19.1.4 says must match whenever either side has them
 * (transport, user, ttl, method, maddr), and the URI headers. Other parameters (e.g. `ob`, `rinstance`)
 * do not distinguish bindings. That is what a Contact refresh by a real UA needs.
 */
export function contactKey(uri: SipUri): string {
  let k = `${uri.scheme}:`;
  if (uri.user !== undefined) k += uri.password !== undefined ? `${uri.user}:${uri.password}@` : `${uri.user}@`;
  k += uri.hostType === "ipv6" ? `[${uri.host}]` : uri.host;
  if (uri.port !== undefined) k += `:${uri.port}`;
  for (const name of ["maddr", "method", "transport", "ttl", "user"]) {
    const v = uri.params.get(name);
    if (v !== undefined) k += `;${name}=${v === null ? "" : v.toLowerCase()}`;
  }
  if (uri.headers.size > 0) {
    const hs = [...uri.headers].map(([n, v]) => `${n.toLowerCase()}=${v}`).sort();
    k += `?${hs.join("&")}`;
  }
  return k;
}

function bindingKey(c: Contact, uri: SipUri, useRegId: boolean): string {
  if (c.instance !== undefined) {
    // RFC 5626 §6: the binding is "between an AOR and the combination of the instance-id and the
    // value of the reg-id (if present)".
    return useRegId && c.regId !== undefined ? `${c.instance};reg-id=${c.regId}` : `inst:${c.instance}`;
  }
  return contactKey(uri);
}

/** RFC 5626 §6: outbound applies when the first hop (the top Path URI) says `ob`. */
function outboundApplies(req: SipRequest): boolean {
  const top = req.paths()[0];
  if (top === undefined) return false;
  try {
    return parseSipUri(top.uri).params.has("ob");
  } catch {
    return false;
  }
}

interface PathFlow {
  edge?: string;
  flowToken?: string;
  transport?: string;
  source?: string;
}

/** Edge (host:port) and flow (token, transport, UA source) from the top Path URI (DESIGN §2 step 3). */
function flowFromPath(req: SipRequest, codec: FlowTokenCodec): PathFlow {
  const top = req.paths()[0];
  if (top === undefined) return {};
  let u: SipUri;
  try {
    u = parseSipUri(top.uri);
  } catch {
    return {};
  }
  const out: PathFlow = { edge: hostPort(u.host, u.hostType === "ipv6", u.port ?? (u.scheme === "sips" ? 5061 : 5060)) };
  if (u.user !== undefined && u.user !== "") {
    const decoded = codec.decode(u.user);
    if (decoded.ok) {
      const f = decoded.flow;
      out.flowToken = u.user;
      out.transport = f.transport;
      out.source = hostPort(f.remoteAddress, f.remoteAddress.includes(":"), f.remotePort);
    }
  }
  return out;
}

function hostPort(host: string, v6: boolean, port: number): string {
  return v6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One Contact value of the 200 (RFC 3261 §10.3 step 8): remaining seconds and the RFC 5626 params. */
function contactValue(b: Binding, now: number): string {
  const remaining = Math.max(0, Math.ceil((b.expiresAt - now) / 1000));
  let v = `<${b.contact}>;expires=${remaining}`;
  if (b.q !== 1) v += `;q=${formatQ(b.q)}`;
  if (b.instance !== undefined) v += `;+sip.instance="<${b.instance}>"`;
  if (b.regId !== undefined) v += `;reg-id=${b.regId}`;
  return v;
}

/** RFC 3261 §25.1 qvalue: "0" / "1" or up to three decimals. */
function formatQ(q: number): string {
  return String(Math.round(q * 1000) / 1000);
}

function statusOf(response: Buffer): number {
  // "SIP/2.0 401 ..." — status code at bytes 8-10.
  const n = Number(response.toString("latin1", 8, 11));
  return Number.isInteger(n) ? n : 0;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
