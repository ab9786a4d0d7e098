/**
 * MessageEditor: mutation for a proxy without re-serialising what it did not touch.
 *
 * Once something changes, the editor keeps the header lines in order as integer codes: n >= 0 is
 * the message's field n, untouched (its byte range in `raw`, CRLF and any folding included), n < 0
 * a new line. toBuffer() allocates once and copies runs of untouched bytes as they are, so a forwarded
 * message keeps the sender's spelling, compact forms and whitespace for every header it did not
 * change (RFC 3261 §16.6: a proxy only adds/changes what the procedure says).
 */
import { ByteSlab } from "./byte-slab.js";
import { canonicalName, firstListComma, isListHeader, isToken, knownDisplayName } from "./headers.js";
import { F_STRIDE, type LazyMessage } from "./lazy-message.js";

export interface MessageEditor {
  /** requests only */
  setRequestUri(uri: string): this;
  /** replaces the field, or adds one */
  setMaxForwards(n: number): this;
  /** new field line before the first existing field of that name, or before the first header line */
  prependHeader(name: string, value: string): this;
  /** new field line after the last header line */
  appendHeader(name: string, value: string): this;
  /** removes the first value of a list header (the whole line when it held one value) */
  removeTopValue(name: string): this;
  /** replaces the first value of a header (only that value of a list line) */
  replaceTopValue(name: string, value: string): this;
  /** all fields of that name */
  removeHeader(name: string): this;
  /** replace all fields of that name with one (in place of the first; appended when absent) */
  setHeader(name: string, value: string): this;
  /** fixes Content-Length (and Content-Type when given) */
  setBody(body: Buffer, contentType?: string): this;
  toBuffer(): Buffer;
}

interface NewLine {
  readonly canon: string;
  /** the name as written on the line */
  readonly spelling: string;
  readonly value: string;
  /** the whole line as UTF-8 octets held one per char (the text itself when ASCII), see toBuffer */
  readonly wire: string;
}

/**
 * Every char of `text` is ASCII: its UTF-8 length equals its length in chars exactly then (any
 * other char, a lone surrogate included, takes two or more octets). One native count instead of
 * a charCodeAt loop: ~16 ns against ~70 ns for a 55-char Via the edge prepends to every request.
 */
function isAsciiText(text: string): boolean {
  return Buffer.byteLength(text, "utf8") === text.length;
}

/** UTF-8 octets of `text`, one char per octet (latin1), so it can be spliced into the latin1 message text. */
function wireOf(text: string): string {
  return isAsciiText(text) ? text : utf8AsLatin1(text);
}

function utf8AsLatin1(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/**
 * The header name as a caller spells it -> its canonical form and the spelling a new line gets
 * (canonical for known headers, never compact; the caller's for others). Callers pass a handful
 * of constant names ("Via", "Record-Route", ...), so this is one Map lookup per edit instead of
 * a name cache lookup plus a display-name lookup; bounded like the parser's name cache.
 */
interface NameInfo {
  readonly canon: string;
  readonly spelling: string;
  /**
   * The last line made for this name (NewLine is immutable, so editors can share it): an edge writes
   * the same Record-Route, Path or Max-Forwards line into message after message, and reusing it skips
   * the checks and the concatenation. One compare when the value differs (a Via's new branch).
   */
  last: NewLine | undefined;
}
const NAME_INFO = new Map<string, NameInfo>();
const NAME_INFO_MAX = 256;

function nameInfo(name: string): NameInfo {
  const hit = NAME_INFO.get(name);
  if (hit !== undefined) return hit;
  // a name is a token (RFC 3261 §25.1): anything else would write a broken or injected line
  if (!isToken(name)) throw new TypeError(`header name ${JSON.stringify(name.slice(0, 32))} is not a token`);
  const canon = canonicalName(name);
  const info: NameInfo = { canon, spelling: knownDisplayName(canon) ?? name, last: undefined };
  if (NAME_INFO.size < NAME_INFO_MAX) NAME_INFO.set(name, info);
  return info;
}

function checkValue(v: string): void {
  // No header injection: a value must not carry CR/LF (folding is never produced).
  if (v.indexOf("\r") >= 0 || v.indexOf("\n") >= 0) throw new TypeError("header value must not contain CR or LF");
}

class Editor implements MessageEditor {
  private readonly msg: LazyMessage;
  /**
   * The header lines in order once anything changed: a code n >= 0 is the message's field n,
   * untouched; n < 0 is the new line added[~n]. Small integers only, so the array stays a packed
   * SMI array: shifting it for an insert has no write barriers and `find` no type checks.
   */
  private order: number[] | undefined;
  private readonly added: NewLine[] = [];
  private startLine: string | undefined;
  private body: Buffer | undefined;

  constructor(msg: LazyMessage) {
    this.msg = msg;
  }

  private list(): number[] {
    // a copy of the shared 0..n-1: one native copy, and packed from the start (new Array(n) is holey)
    return (this.order ??= identityOrder(this.msg._names.length));
  }

  private code(nl: NewLine): number {
    return ~(this.added.push(nl) - 1);
  }

  private nameOf(code: number): string {
    return code >= 0 ? this.msg._names[code]! : this.added[~code]!.canon;
  }

  private valueOf(code: number): string {
    return code >= 0 ? this.msg._value(code) : this.added[~code]!.value;
  }

  /** How the header was spelled on the line being rewritten (keeps "v:" for a compact Via). */
  private spellingOf(code: number, info: NameInfo): string {
    if (code < 0) return this.added[~code]!.spelling;
    const s = this.msg._s;
    const start = this.msg._meta[code * F_STRIDE]!;
    // the usual line is spelled as we would write it: the shared constant, no slice (its octets
    // compared in place: String#startsWith at an offset costs several times more)
    const usual = info.spelling;
    const n = usual.length;
    const raw = this.msg.raw;
    const after = raw[start + n];
    if (after === 58 || after === 32 || after === 9) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = raw[start + i] === usual.charCodeAt(i);
      if (same) return usual;
    }
    let ne = s.indexOf(":", start);
    while (ne > start && (s.charCodeAt(ne - 1) === 32 || s.charCodeAt(ne - 1) === 9)) ne--;
    return s.slice(start, ne);
  }

  private line(info: NameInfo, spelling: string, value: string): number {
    const last = info.last;
    if (last !== undefined && last.value === value && last.spelling === spelling) return this.code(last);
    checkValue(value);
    const text = `${spelling}: ${value}\r\n`;
    // the spelling is a token (nameInfo checks a caller's, the parser a received one), so ASCII;
    // the value is checked flat, not the concatenation (indexing a cons string is slow)
    const wire = isAsciiText(value) ? text : utf8AsLatin1(text);
    const nl: NewLine = { canon: info.canon, spelling, value, wire };
    info.last = nl;
    return this.code(nl);
  }

  /** Position in the order of the first line named `canon` at or after position `from`, -1 when there is none. */
  private find(canon: string, from = 0): number {
    const order = this.order;
    const names = this.msg._names;
    // untouched, the order is the fields' own
    if (order === undefined) return names.indexOf(canon, from);
    // native searches instead of comparing the name of every line: the message's first field of that
    // name in the order from `from` on (its fields keep their relative order; a removed or replaced
    // one, or one before `from`, is skipped), then any new line of that name placed before it
    let at = -1;
    for (let k = names.indexOf(canon); k >= 0; k = names.indexOf(canon, k + 1)) {
      at = order.indexOf(k, from);
      if (at >= 0) break;
    }
    const added = this.added;
    for (let j = 0; j < added.length; j++) {
      if (added[j]!.canon !== canon) continue;
      const p = order.indexOf(~j, from);
      if (p >= 0 && (at < 0 || p < at)) at = p;
    }
    return at;
  }

  setRequestUri(uri: string): this {
    const msg = this.msg as LazyMessage & { readonly method?: string };
    if (msg.kind !== "request" || msg.method === undefined) throw new TypeError("setRequestUri on a response");
    if (/\s/.test(uri) || uri.length === 0) throw new TypeError("Request-URI must be non-empty without whitespace");
    this.startLine = `${msg.method} ${uri} SIP/2.0\r\n`;
    return this;
  }

  setMaxForwards(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`Max-Forwards ${n} out of 0..255`);
    return this.setHeader("max-forwards", String(n));
  }

  prependHeader(name: string, value: string): this {
    const info = nameInfo(name);
    const nl = this.line(info, info.spelling, value);
    const at = this.find(info.canon);
    insertAt(this.list(), at < 0 ? 0 : at, nl);
    return this;
  }

  appendHeader(name: string, value: string): this {
    const info = nameInfo(name);
    this.list().push(this.line(info, info.spelling, value));
    return this;
  }

  removeTopValue(name: string): this {
    const info = nameInfo(name);
    const canon = info.canon;
    const at = this.find(canon);
    if (at < 0) return this;
    const order = this.list();
    const e = order[at]!;
    const v = this.valueOf(e);
    const comma = isListHeader(canon) ? firstListComma(v) : -1;
    const rest = comma < 0 ? "" : v.slice(comma + 1).trim();
    if (rest.length === 0) removeAt(order, at);
    else order[at] = this.line(info, this.spellingOf(e, info), rest);
    return this;
  }

  replaceTopValue(name: string, value: string): this {
    const info = nameInfo(name);
    const canon = info.canon;
    const at = this.find(canon);
    if (at < 0) return this.prependHeader(name, value);
    const order = this.list();
    const e = order[at]!;
    const v = this.valueOf(e);
    const comma = isListHeader(canon) ? firstListComma(v) : -1;
    const rest = comma < 0 ? "" : v.slice(comma + 1).trim();
    order[at] = this.line(info, this.spellingOf(e, info), rest.length === 0 ? value : `${value}, ${rest}`);
    return this;
  }

  removeHeader(name: string): this {
    const { canon } = nameInfo(name);
    if (this.find(canon) < 0) return this;
    this.order = this.list().filter((e) => this.nameOf(e) !== canon);
    return this;
  }

  setHeader(name: string, value: string): this {
    const info = nameInfo(name);
    const canon = info.canon;
    const at = this.find(canon);
    if (at < 0) return this.appendHeader(name, value);
    const order = this.list();
    const nl = this.line(info, this.spellingOf(order[at]!, info), value);
    if (this.find(canon, at + 1) < 0) {
      // the usual case (one Max-Forwards, one Content-Length): replace in place
      order[at] = nl;
      return this;
    }
    const out: number[] = [];
    for (let i = 0; i < order.length; i++) {
      const e = order[i]!;
      if (i === at) out.push(nl);
      else if (this.nameOf(e) !== canon) out.push(e);
    }
    this.order = out;
    return this;
  }

  setBody(body: Buffer, contentType?: string): this {
    this.body = body;
    this.setHeader("content-length", String(body.length));
    if (contentType !== undefined) this.setHeader("content-type", contentType);
    return this;
  }

  /**
   * The message is spliced as text: `_s` is the latin1 decode of the received octets (one char per
   * octet, so any byte range of `raw` is the same char range of `_s`), new lines are added as their
   * UTF-8 octets, and one latin1 encode turns the result back into bytes. One native call per
   * message instead of one per copied run (copying the runs from `raw` with Buffer#copy, seven
   * calls for a proxied INVITE, measured slower than concatenating and encoding once).
   */
  toBuffer(): Buffer {
    const msg = this.msg;
    const raw = msg.raw;
    const order = this.order;
    if (order === undefined && this.startLine === undefined && this.body === undefined) return raw;
    const s = msg._s;
    const meta = msg._meta;
    const nf = msg._names.length;
    // end of the last header line (CRLF included); the empty line is always written anew, so a
    // datagram that lacked it (see parser) still comes out as a well-formed message
    const headEnd = msg._headEnd;
    // The body is part of the decoded text unless it was replaced or only the header block was
    // decoded (a large message, see the parser); then it is copied as bytes after the head.
    const bodyAsBytes = this.body ?? (s.length < raw.length ? raw.subarray(msg._bodyStart) : undefined);
    // Where the text to copy ends: with the body in the text and the empty line as received
    // (CRLF right after the last header line), the last untouched run goes on to the end of the
    // message and takes the empty line and the body with it.
    const textEnd = bodyAsBytes === undefined && msg._bodyStart === headEnd + 2 ? raw.length : headEnd;
    let out = this.startLine !== undefined ? wireOf(this.startLine) : s.slice(0, msg._startLineEnd);
    let runStart = msg._startLineEnd;
    let runEnd = headEnd;
    if (order !== undefined) {
      const added = this.added;
      runStart = runEnd = -1;
      for (let i = 0; i < order.length; i++) {
        const e = order[i]!;
        if (e >= 0) {
          // a field's line ends where the next one starts (see F_STRIDE)
          const a = meta[e * F_STRIDE]!;
          const b = e + 1 < nf ? meta[(e + 1) * F_STRIDE]! : headEnd;
          if (a === runEnd) runEnd = b;
          else {
            if (runStart >= 0) out += s.slice(runStart, runEnd);
            runStart = a;
            runEnd = b;
          }
        } else {
          if (runStart >= 0) {
            out += s.slice(runStart, runEnd);
            runStart = runEnd = -1;
          }
          out += added[~e]!.wire;
        }
      }
    }
    if (runEnd === headEnd && textEnd !== headEnd) out += s.slice(runStart, textEnd);
    else {
      if (runStart >= 0) out += s.slice(runStart, runEnd);
      out += textEnd === headEnd ? "\r\n" : `\r\n${s.slice(msg._bodyStart, raw.length)}`;
    }
    const head = out.length;
    const bytes = OUTPUT.take(head + (bodyAsBytes === undefined ? 0 : bodyAsBytes.length));
    bytes.write(out, 0, head, "latin1");
    if (bodyAsBytes !== undefined) bodyAsBytes.copy(bytes, head);
    return bytes;
  }
}

/**
 * Where toBuffer's bytes go. What is made here is sent and dropped: whatever keeps a message longer
 * (a transaction's retransmission copy, a write queued for a slow peer) copies it first, so a
 * larger slab than Node's 8 KiB pool pins nothing for long (see ByteSlab). Messages up to 16 KiB
 * share a slab; larger ones get their own buffer.
 */
const OUTPUT = new ByteSlab(64 * 1024, 16 * 1024);

/** 0, 1, 2, ...: the order of an untouched message's fields, copied by identityOrder. */
const IDENTITY: number[] = [];

function identityOrder(n: number): number[] {
  while (IDENTITY.length < n) IDENTITY.push(IDENTITY.length);
  return IDENTITY.slice(0, n);
}

/*
 * Array#splice allocates the array of removed elements and takes a generic path: 139 ns to insert
 * one entry into a 14-entry list, against ~15 ns for these loops (one prepend per proxied request
 * for the Via, one for Record-Route).
 */
function insertAt(list: number[], at: number, e: number): void {
  list.push(e);
  for (let i = list.length - 1; i > at; i--) list[i] = list[i - 1]!;
  list[at] = e;
}

function removeAt(list: number[], at: number): void {
  for (let i = at + 1; i < list.length; i++) list[i - 1] = list[i]!;
  list.pop();
}

export function createEditor(msg: LazyMessage): MessageEditor {
  return new Editor(msg);
}
