/**
 * SIP request/response texts the e2e tests send as a scripted UA (the copies that used to live in
 * message-edge, invite-edge, tls-wss-register and auth-digest). Strings in, strings out: the
 * sockets are TestUa's (or a test's own TLS/WSS client); nothing here talks to the network except
 * `register` (through the given TestUa) and `aorView` (the admin API).
 *
 * A `user` argument is either a bare user ("alice", expanded to `sip:alice@example.com`) or a
 * whole SIP URI ("sip:+1555@carrier.example").
 */
import { expect } from "vitest";
import { randomToken, sipHeader, sipHeaders, sipMethod, sipStatus, sipText } from "@edgepath/testkit";
import type { TestUa, UaTarget } from "@edgepath/testkit";

/** The local domain every e2e system serves (startEmbedded's default). */
export const DOMAIN = "example.com";

/** `sip:USER@example.com`, or `user` itself when it already is a SIP/SIPS URI. */
export function aorOf(user: string): string {
  return user.startsWith("sip:") || user.startsWith("sips:") ? user : `sip:${user}@${DOMAIN}`;
}

/** The user part of an AOR ("alice" for sip:alice@example.com). */
function userOf(user: string): string {
  const aor = aorOf(user);
  return aor.slice(aor.indexOf(":") + 1, aor.indexOf("@"));
}

/** "SIP/2.0/UDP host:port" of a TestUa (RFC 3261 §20.42 sent-protocol + sent-by). */
export function sentBy(ua: TestUa): string {
  return `SIP/2.0/${ua.transport.toUpperCase()} ${ua.hostport}`;
}

/** A fresh top Via line (RFC 3261 §8.1.1.7 magic-cookie branch, RFC 3581 rport) for a TestUa or a sent-by string. */
export function via(from: TestUa | string): string {
  return `Via: ${typeof from === "string" ? from : sentBy(from)};branch=z9hG4bK${randomToken()};rport`;
}

export interface RegisterOptions {
  /** Expires header; default 300. */
  readonly expires?: number;
  /** User part of the Contact URI; default the AOR's user. */
  readonly contactUser?: string;
  readonly callId?: string;
  readonly cseq?: number;
  /** Extra header lines (credentials, Supported, ...). */
  readonly extra?: readonly string[];
}

/** A REGISTER for `user` from `ua` with `Supported: path` (RFC 3327 §4) and a transport-qualified Contact. */
export function registerText(ua: TestUa, user: string, o: RegisterOptions = {}): string {
  const aor = aorOf(user);
  return sipText(`REGISTER sip:${aor.slice(aor.indexOf("@") + 1)} SIP/2.0`, [
    via(ua),
    "Max-Forwards: 70",
    `From: <${aor}>;tag=${randomToken(4)}`,
    `To: <${aor}>`,
    `Call-ID: ${o.callId ?? `${randomToken()}@reg`}`,
    `CSeq: ${o.cseq ?? 1} REGISTER`,
    `Contact: <sip:${o.contactUser ?? userOf(user)}@${ua.hostport};transport=${ua.transport}>`,
    `Expires: ${o.expires ?? 300}`,
    "Supported: path",
    ...(o.extra ?? []),
  ]);
}

/** Registers `user` through `edge` and expects a 200 (the whole response is the failure message). */
export async function register(ua: TestUa, edge: UaTarget, user: string, o: RegisterOptions = {}): Promise<string> {
  const res = await ua.request(registerText(ua, user, o), edge);
  expect(sipStatus(res), res).toBe(200);
  return res;
}

export interface MessageOptions {
  readonly callId?: string;
  readonly cseq?: number;
  /** Extra header lines (credentials, spoofed internal headers, ...). */
  readonly extra?: readonly string[];
}

/** A MESSAGE (RFC 3428 pager mode) from `from` to `to`; Request-URI = To = `to`'s AOR. */
export function messageText(sender: TestUa | string, from: string, to: string, body: string, o: MessageOptions = {}): string {
  const toAor = aorOf(to);
  return sipText(
    `MESSAGE ${toAor} SIP/2.0`,
    [
      via(sender),
      "Max-Forwards: 70",
      `From: <${aorOf(from)}>;tag=${randomToken(4)}`,
      `To: <${toAor}>`,
      `Call-ID: ${o.callId ?? `${randomToken()}@msg`}`,
      `CSeq: ${o.cseq ?? 1} MESSAGE`,
      "Content-Type: text/plain",
      ...(o.extra ?? []),
    ],
    body,
  );
}

export interface AnswerOptions {
  /** To tag to add (RFC 3261 §8.2.6.2); default random. Never added to a 100. */
  readonly toTag?: string;
  readonly contact?: string;
  /** An SDP body (Content-Type application/sdp). */
  readonly body?: string;
}

/**
 * A UAS response to `req` (RFC 3261 §8.2.6: Vias, From, To + tag, Call-ID, CSeq copied; §12.1.1:
 * Record-Route copied into the 101-299 responses that can create a dialog).
 */
export function answer(req: string, status: number, reason: string, o: AnswerOptions = {}): string {
  const to = sipHeader(req, "to")!;
  const withTag = to.includes(";tag=") || status === 100 ? to : `${to};tag=${o.toTag ?? randomToken(4)}`;
  return sipText(
    `SIP/2.0 ${status} ${reason}`,
    [
      ...sipHeaders(req, "via").map((v) => `Via: ${v}`),
      ...(status > 100 && status < 300 ? sipHeaders(req, "record-route").map((r) => `Record-Route: ${r}`) : []),
      `From: ${sipHeader(req, "from")!}`,
      `To: ${withTag}`,
      `Call-ID: ${sipHeader(req, "call-id")!}`,
      `CSeq: ${sipHeader(req, "cseq")!}`,
      ...(o.contact !== undefined ? [`Contact: ${o.contact}`] : []),
      ...(o.body !== undefined ? ["Content-Type: application/sdp"] : []),
    ],
    o.body ?? "",
  );
}

/** Matches a MESSAGE request, of one Call-ID when given. */
export const isMessage =
  (callId?: string) =>
  (m: string): boolean =>
    sipMethod(m) === "MESSAGE" && (callId === undefined || sipHeader(m, "call-id") === callId);

export interface AorView {
  readonly bindings: ReadonlyArray<{ readonly contact: string; readonly reachable: boolean; readonly reason?: string }>;
}

/** The admin API's view of one AOR (GET /v1/aors/{aor}); expects 200. */
export async function aorView(adminUrl: string, user: string): Promise<AorView> {
  const res = await fetch(`${adminUrl}/v1/aors/${encodeURIComponent(aorOf(user))}`);
  expect(res.status).toBe(200);
  return (await res.json()) as AorView;
}

/** An in-dialog request (RFC 3261 §12.2.1.1): Request-URI = remote target, Route = route set. */
export function inDialog(ua: TestUa, method: string, o: { target: string; routeSet: readonly string[]; from: string; to: string; callId: string; cseq: number }): string {
  return sipText(`${method} ${o.target} SIP/2.0`, [
    via(ua),
    ...o.routeSet.map((r) => `Route: ${r}`),
    "Max-Forwards: 70",
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} ${method}`,
  ]);
}

/** Record-Route values of a message, one per entry (a header line may hold several). */
export function recordRoutes(m: string): string[] {
  return sipHeaders(m, "record-route").flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim()));
}

export interface InviteOptions {
  /** Request-URI and To URI (no tag). */
  readonly to: string;
  /** The whole From value, tag included. */
  readonly from: string;
  readonly callId: string;
  /** The whole Contact value, e.g. `<sip:alice@127.0.0.1:5062;transport=tcp>`. */
  readonly contact: string;
  readonly extra?: readonly string[];
  /** An SDP body (Content-Type application/sdp). */
  readonly body?: string;
}

/** An initial INVITE (RFC 3261 §8.1.1, §13.2.1) from `ua`: CSeq 1, a fresh Via, Max-Forwards 70. */
export function inviteText(ua: TestUa, o: InviteOptions): string {
  return sipText(
    `INVITE ${o.to} SIP/2.0`,
    [
      via(ua),
      "Max-Forwards: 70",
      `From: ${o.from}`,
      `To: <${o.to}>`,
      `Call-ID: ${o.callId}`,
      "CSeq: 1 INVITE",
      `Contact: ${o.contact}`,
      ...(o.extra ?? []),
      ...(o.body !== undefined ? ["Content-Type: application/sdp"] : []),
    ],
    o.body ?? "",
  );
}
