/**
 * Test helpers shared by this package's tests (not exported from index.ts).
 */
import { parseMessage } from "@edgepath/sip";
import type { SipMessage, SipRequest, SipResponse } from "@edgepath/sip";

/** Joins header lines with CRLF, adds Content-Length and the blank line. */
export function sipText(startLine: string, headers: readonly string[], body = ""): Buffer {
  const lines = [startLine, ...headers];
  if (!headers.some((h) => /^(content-length|l)\s*:/i.test(h))) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

export function parse(bytes: Buffer): SipMessage {
  const r = parseMessage(bytes);
  if (!r.ok) throw r.error;
  return r.message;
}

export function parseRequest(bytes: Buffer): SipRequest {
  const m = parse(bytes);
  if (m.kind !== "request") throw new Error(`expected a request, got ${m.status}`);
  return m;
}

export function parseResponse(bytes: Buffer): SipResponse {
  const m = parse(bytes);
  if (m.kind !== "response") throw new Error(`expected a response, got ${m.method}`);
  return m;
}
