/**
 * The SIP message model (RFC 3261 §7). Interfaces only; the lazy implementation lives in
 * lazy-message.ts.
 */
import type { AuthParams, Contact, NameAddr, SipUri, TelUri, Via } from "./types.js";
import type { MessageEditor } from "./editor.js";

export interface HeaderField {
  /** canonical lower-case long form, e.g. "via", "call-id" */
  readonly name: string;
  /** trimmed, unfolded */
  readonly value: string;
}

export interface SipMessageBase {
  /** bytes it was parsed from (a datagram's trailing octets beyond Content-Length excluded) */
  readonly raw: Buffer;
  /** in order, one per header line */
  readonly fields: readonly HeaderField[];
  readonly body: Buffer;
  /** first field's value; name case-insensitive, compact forms ok */
  header(name: string): string | undefined;
  /** every value of every field, comma-split for list headers */
  headerValues(name: string): string[];
  /**
   * Canonical lower-case names (`fields[i].name`), one per header line, in order: the message's
   * own list, so counting or finding header lines allocates nothing.
   */
  readonly fieldNames: readonly string[];
  /** the value of each header line named `name`, in order, never comma-split (`fields` filtered by name) */
  fieldValues(name: string): string[];
  /** `headerValues(name).length`, counted in place: no value strings are built */
  valueCount(name: string): number;
  hasHeader(name: string): boolean;
  readonly callId: string;
  cseq(): { seq: number; method: string };
  from(): NameAddr;
  to(): NameAddr;
  fromTag(): string | undefined;
  toTag(): string | undefined;
  vias(): Via[];
  topVia(): Via;
  maxForwards(): number | undefined;
  routes(): NameAddr[];
  recordRoutes(): NameAddr[];
  paths(): NameAddr[];
  /** [] when absent */
  contacts(): Contact[] | "*";
  expires(): number | undefined;
  minExpires(): number | undefined;
  supported(): string[];
  require(): string[];
  proxyRequire(): string[];
  unsupported(): string[];
  contentLength(): number | undefined;
  contentType(): string | undefined;
  authorization(): AuthParams | undefined;
  proxyAuthorization(): AuthParams | undefined;
  wwwAuthenticate(): AuthParams | undefined;
  proxyAuthenticate(): AuthParams | undefined;
  /** === raw for an untouched message */
  toBuffer(): Buffer;
  edit(): MessageEditor;
}

export interface SipRequest extends SipMessageBase {
  readonly kind: "request";
  readonly method: string;
  /** raw Request-URI */
  readonly uri: string;
  requestUri(): SipUri | TelUri;
}

export interface SipResponse extends SipMessageBase {
  readonly kind: "response";
  readonly status: number;
  readonly reason: string;
}

export type SipMessage = SipRequest | SipResponse;
