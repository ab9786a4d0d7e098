/**
 * Stream framing for TCP / TLS / WebSocket-less byte streams (RFC 3261 §18.3): a message is the
 * header section up to the empty line plus exactly Content-Length body octets (mandatory on
 * streams). CRLF keepalives between messages (RFC 5626 §4.4.1): "\r\n\r\n" is a ping (answer
 * with "\r\n"), a lone "\r\n" is a pong. The framer only frames: it does not parse the message.
 *
 * Zero-copy when a chunk holds whole messages (the emitted Buffer is a view of the chunk, so the
 * caller must not reuse chunk memory — Node sockets never do). Partial data is kept in one
 * growable buffer, and the search for the end of the header section resumes where it stopped,
 * so a message trickling in one byte at a time costs O(n), not O(n²).
 */
import { badContentLength, missingHeader, tooLarge, type SipParseError } from "./errors.js";
import { parseContentLength } from "./lazy-message.js";

export type FrameEvent =
  | { kind: "message"; bytes: Buffer }
  | { kind: "keepalive"; pong: boolean }
  | { kind: "error"; error: SipParseError };

export interface FramerOptions {
  /** whole message bound (headers + body), default 65535 -> error 513 */
  maxMessageBytes?: number;
  /** header section bound, default 16384 -> error 513 */
  maxHeaderBytes?: number;
}

const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
const EMPTY = Buffer.alloc(0);

export class StreamFramer {
  private readonly maxMessage: number;
  private readonly maxHeader: number;
  private acc: Buffer = EMPTY;
  private accLen = 0;
  /** bytes of the current message already searched for CRLFCRLF */
  private scanned = 0;
  /** total length of the current message once its header section is complete, else 0 */
  private need = 0;
  private failed = false;

  constructor(opts?: FramerOptions) {
    this.maxMessage = opts?.maxMessageBytes ?? 65535;
    this.maxHeader = Math.min(opts?.maxHeaderBytes ?? 16384, this.maxMessage);
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.accLen;
  }

  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    if (this.failed || chunk.length === 0) return events;
    let data: Buffer;
    let end: number;
    const fromAcc = this.accLen > 0;
    if (fromAcc) {
      this.append(chunk);
      data = this.acc;
      end = this.accLen;
    } else {
      data = chunk;
      end = chunk.length;
    }
    const pos = this.frame(data, end, fromAcc, events);
    if (this.failed) {
      this.acc = EMPTY;
      this.accLen = 0;
      return events;
    }
    // keep the incomplete tail
    const rest = end - pos;
    if (rest === 0) {
      this.accLen = 0;
      if (this.acc.length > 65536) this.acc = EMPTY;
    } else if (fromAcc) {
      if (pos > 0) data.copy(data, 0, pos, end);
      this.accLen = rest;
    } else {
      this.accLen = 0;
      this.append(data.subarray(pos, end));
    }
    return events;
  }

  private append(b: Buffer): void {
    const need = this.accLen + b.length;
    if (need > this.acc.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.acc.length * 2, 4096));
      this.acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    b.copy(this.acc, this.accLen);
    this.accLen = need;
  }

  /** Frames what it can from data[0, end); returns the offset of the unconsumed tail. */
  private frame(d: Buffer, end: number, copy: boolean, events: FrameEvent[]): number {
    let pos = 0;
    while (pos < end) {
      if (this.need === 0) {
        const c = d[pos]!;
        if (c === 13 || c === 10) {
          // RFC 5626 §4.4.1 keepalives; RFC 3261 §7.5: CRLF before a start line is ignored
          const left = end - pos;
          if (c === 10) {
            pos++;
            continue;
          }
          if (left < 2) break;
          if (d[pos + 1] !== 10) {
            pos++;
            continue;
          }
          if (left < 4 && (left === 2 || d[pos + 2] === 13)) break; // maybe the first half of a ping
          if (left >= 4 && d[pos + 2] === 13 && d[pos + 3] === 10) {
            events.push({ kind: "keepalive", pong: true });
            pos += 4;
          } else {
            events.push({ kind: "keepalive", pong: false });
            pos += 2;
          }
          continue;
        }
        const from = pos + Math.max(0, this.scanned - 3);
        let hdr = d.indexOf(CRLFCRLF, from);
        // `d` may be the accumulator, whose bytes past `end` are stale: a match must lie wholly
        // inside [from, end) — one that straddles `end` is half stale (found by the property test)
        if (hdr + 4 > end) hdr = -1;
        if (hdr < 0) {
          if (end - pos > this.maxHeader) return this.fail(events, tooLarge(`header section exceeds ${this.maxHeader} bytes`));
          this.scanned = end - pos;
          break;
        }
        const headerLen = hdr + 4 - pos;
        if (headerLen > this.maxHeader) return this.fail(events, tooLarge(`header section exceeds ${this.maxHeader} bytes`));
        const cl = findContentLength(d.toString("latin1", pos, hdr + 2));
        if (typeof cl !== "number") return this.fail(events, cl);
        if (headerLen + cl > this.maxMessage) return this.fail(events, tooLarge(`message of ${headerLen + cl} bytes exceeds ${this.maxMessage}`));
        this.need = headerLen + cl;
        this.scanned = 0;
      }
      if (end - pos < this.need) break;
      const msg = d.subarray(pos, pos + this.need);
      events.push({ kind: "message", bytes: copy ? Buffer.from(msg) : msg });
      pos += this.need;
      this.need = 0;
    }
    return pos;
  }

  private fail(events: FrameEvent[], error: SipParseError): number {
    this.failed = true;
    events.push({ kind: "error", error });
    return 0;
  }
}

/**
 * Content-Length from a header block (latin1, start line included): the value of every
 * "Content-Length" / "l" field (case-insensitive); two different values are an error.
 */
function findContentLength(s: string): number | SipParseError {
  let found = -1;
  let pos = s.indexOf("\r\n") + 2;
  while (pos > 1 && pos < s.length) {
    const eol = s.indexOf("\r\n", pos);
    const lineEnd = eol < 0 ? s.length : eol;
    const c = s.charCodeAt(pos) | 32;
    if (c === 108 /* l */ || c === 99 /* c */) {
      const colon = s.indexOf(":", pos);
      if (colon > 0 && colon < lineEnd) {
        const name = s.slice(pos, colon).trimEnd().toLowerCase();
        if (name === "l" || name === "content-length") {
          const v = s.slice(colon + 1, lineEnd).trim();
          const n = parseContentLength(v);
          if (n < 0) return badContentLength(`not a non-negative number: "${v.slice(0, 20)}"`);
          if (found >= 0 && found !== n) return badContentLength("more than one value");
          found = n;
        }
      }
    }
    pos = lineEnd + 2;
  }
  return found < 0 ? missingHeader("Content-Length") : found;
}
