/**
 * Typed parse errors (CONVENTIONS §8). Every error carries the SIP status a
 * stateless edge answers with and a reason phrase naming the fault, e.g.
 * `400 Bad Header: CSeq` or `505 Version Not Supported`.
 */

/** Stable error codes. */
export const SipErrorCode = {
  badHeader: "bad-header",
  badStartLine: "bad-start-line",
  badVersion: "bad-version",
  unsupportedUriScheme: "unsupported-uri-scheme",
  tooLarge: "too-large",
  badContentLength: "bad-content-length",
  missingHeader: "missing-header",
  incomplete: "incomplete",
  badUri: "bad-uri",
  tooManyHeaders: "too-many-headers",
} as const;
export type SipErrorCode = (typeof SipErrorCode)[keyof typeof SipErrorCode];

export interface SipParseErrorInit {
  readonly code: string;
  readonly sipStatus: number;
  readonly reason: string;
  readonly header?: string | undefined;
  readonly detail?: string | undefined;
  readonly cause?: unknown;
}

export class SipParseError extends Error {
  override readonly name = "SipParseError";
  readonly code: string;
  readonly sipStatus: number;
  readonly reason: string;
  readonly header?: string;

  constructor(init: SipParseErrorInit) {
    super(init.detail !== undefined ? `${init.reason}: ${init.detail}` : init.reason,
      init.cause !== undefined ? { cause: init.cause } : undefined);
    this.code = init.code;
    this.sipStatus = init.sipStatus;
    this.reason = init.reason;
    if (init.header !== undefined) this.header = init.header;
  }
}

/** 400 "Bad Header: X" — `display` is the header's canonical display name (e.g. "CSeq"). */
export function badHeader(display: string, detail?: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badHeader, sipStatus: 400, reason: `Bad Header: ${display}`, header: display, detail });
}

export function missingHeader(display: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.missingHeader, sipStatus: 400, reason: `Missing Header: ${display}`, header: display });
}

export function badStartLine(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badStartLine, sipStatus: 400, reason: "Bad Request Line", detail });
}

export function badVersion(version: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badVersion, sipStatus: 505, reason: "Version Not Supported", detail: version });
}

export function unsupportedScheme(scheme: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.unsupportedUriScheme, sipStatus: 416, reason: "Unsupported URI Scheme", detail: scheme });
}

export function badUri(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badUri, sipStatus: 400, reason: "Bad Request-URI", detail });
}

export function tooLarge(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.tooLarge, sipStatus: 513, reason: "Message Too Large", detail });
}

export function badContentLength(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badContentLength, sipStatus: 400, reason: "Bad Header: Content-Length", header: "Content-Length", detail });
}

export function incomplete(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.incomplete, sipStatus: 400, reason: "Incomplete Message", detail });
}
