/**
 * Flow tokens (DESIGN §2 step 3, in the spirit of RFC 5626 §5.2).
 *
 * An edge puts a flow token in the user part of its Path / Record-Route URI
 * (`<sip:TOKEN@edge;lr;ob>`). When a request later comes back to the edge with
 * that URI on top of Route, the token says which flow (transport, local socket,
 * remote address, connection) to send it over. Because the token travels
 * through workers and UAs, it is HMAC-signed with a key derived from the cluster
 * secret; an edge never follows a token that fails verification (RFC 5626 §5.2:
 * "the proxy MUST be able to determine that the flow token was not modified").
 *
 * Wire format (version 1), all integers big-endian, then base64url without padding:
 *
 * ```
 *  byte 0        version (0x01)
 *  byte 1        bits 0-3: transport (1 udp, 2 tcp, 3 tls, 4 ws, 5 wss)
 *                bit 4: local address is IPv6, bit 5: remote address is IPv6,
 *                bits 6-7: reserved, zero
 *  4|16 bytes    local address
 *  2 bytes       local port
 *  4|16 bytes    remote address
 *  2 bytes       remote port
 *  1..5 bytes    connection id, unsigned LEB128 varint (0 for UDP)
 *  16 bytes      HMAC-SHA256 over all preceding bytes, truncated to 128 bits
 * ```
 *
 * An IPv4/UDP token is 31 bytes = 42 characters. base64url's alphabet
 * (A-Z a-z 0-9 "-" "_") is a subset of RFC 3261 §25.1 `unreserved`, so a token is
 * always a valid SIP URI user part without escaping.
 */
import { createHmac, createSecretKey, hkdfSync, timingSafeEqual } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { formatIPv4, formatIPv6, writeIPv4, writeIPv6 } from "./ip.js";

export type FlowTransport = "udp" | "tcp" | "tls" | "ws" | "wss";

export interface FlowDescriptor {
  readonly transport: FlowTransport;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Identifies the connection within the edge process; 0 for UDP. Unsigned 32-bit. */
  readonly connectionId: number;
}

export type FlowTokenDecodeResult =
  | { readonly ok: true; readonly flow: FlowDescriptor }
  | { readonly ok: false; readonly reason: "malformed" | "bad-signature" | "bad-version" };

/** Thrown by `encode()` and the constructor on programming errors (never by `decode()`). */
export class FlowTokenError extends Error {
  override readonly name = "FlowTokenError";
  readonly code: "bad-address" | "bad-port" | "bad-connection-id" | "bad-transport" | "bad-secret";
  constructor(code: FlowTokenError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

export const FLOW_TOKEN_VERSION = 1;

/** Domain separation for edge marks (FlowTokenCodec.edgeMark). */
const EDGE_MARK_LABEL = Buffer.from("\0edgepath edge internal\0", "latin1");
const MAC_LEN = 16;
const V6_LOCAL = 0x10;
const V6_REMOTE = 0x20;
const TRANSPORT_MASK = 0x0f;
// 1 + 1 + 16 + 2 + 16 + 2 + 5 + 16
const MAX_BYTES = 59;
const MIN_BYTES = 1 + 1 + 4 + 2 + 4 + 2 + 1 + MAC_LEN; // 31
const MAX_CHARS = Math.ceil((MAX_BYTES * 4) / 3);
const MIN_CHARS = Math.ceil((MIN_BYTES * 4) / 3);

const TRANSPORT_CODE: Readonly<Record<FlowTransport, number>> = { udp: 1, tcp: 2, tls: 3, ws: 4, wss: 5 };
const CODE_TRANSPORT: readonly (FlowTransport | undefined)[] = [undefined, "udp", "tcp", "tls", "ws", "wss"];

/** base64url alphabet value of a char code, -1 outside it. */
const B64URL = new Int8Array(128).fill(-1);
{
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = 0; i < alphabet.length; i++) B64URL[alphabet.charCodeAt(i)] = i;
}

/** HKDF info string: domain separation from every other use of the cluster secret. */
const KDF_INFO = "edgepath flow-token v1";

export interface FlowTokenCodecOptions {
  /**
   * Bound of each of the two result caches (encode: flow -> token, decode: token -> flow).
   * Default 16 384; 0 turns caching off. See {@link FlowTokenCodec}.
   */
  readonly cacheSize?: number;
}

/**
 * A bounded map with approximate-LRU eviction in O(1) and no work on a hit beyond a lookup:
 * two generations; a hit in the old one is promoted, and when the young one is full it
 * becomes the old one (the previous old one, entries not used for a whole generation, is
 * dropped). Holds at most `2 * half` entries.
 */
class GenerationalCache<V> {
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  constructor(private readonly half: number) {}

  get(key: string): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const o = this.#old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, value: V): void {
    if (this.#young.size >= this.half) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}

/**
 * Signs and verifies flow tokens.
 *
 * Results are cached: an edge encodes the same few flows (one per phone, one per internal
 * peer) and decodes the same tokens (its Via `ft`, its Path / Record-Route user parts) on
 * every message, and an HMAC-SHA256 costs more than the rest of the edge's per-message
 * work. The HMAC is deterministic, so a cached encode is byte-identical to a fresh one.
 * Only tokens that *verified* enter the decode cache (keyed by the exact token string), so
 * forged or garbage tokens cannot fill it; a hit returns a frozen, shared result.
 */
export class FlowTokenCodec {
  readonly #key: KeyObject;
  // Scratch buffers, reused: encode/decode are synchronous so no call can interleave.
  readonly #enc = Buffer.alloc(MAX_BYTES);
  readonly #dec = Buffer.alloc(MAX_BYTES + 3);
  readonly #encoded: GenerationalCache<string> | undefined;
  readonly #decoded: GenerationalCache<FlowTokenDecodeResult> | undefined;
  /** Bounded like the token caches: marks are checked for addresses a sender wrote, so anyone could try to fill it. */
  readonly #marks = new GenerationalCache<string>(512);

  constructor(secret: string | Buffer, opts: FlowTokenCodecOptions = {}) {
    const cacheSize = opts.cacheSize ?? 16_384;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new RangeError(`cacheSize must be an integer >= 0: ${cacheSize}`);
    if (cacheSize > 0) {
      const half = Math.max(1, cacheSize >> 1);
      this.#encoded = new GenerationalCache(half);
      this.#decoded = new GenerationalCache(half);
    }
    const ikm = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
    if (ikm.length === 0) throw new FlowTokenError("bad-secret", "flow token secret must not be empty");
    // RFC 5869 HKDF-SHA256: the cluster secret also signs digest nonces, so derive a
    // key used for nothing but flow tokens.
    const key = Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), KDF_INFO, 32));
    this.#key = createSecretKey(key);
  }

  /** Encodes and signs a flow. Throws FlowTokenError for a descriptor that cannot be represented. */
  encode(flow: FlowDescriptor): string {
    const cache = this.#encoded;
    if (cache === undefined) return this.#encode(flow);
    const key = `${flow.transport}|${flow.localAddress}|${flow.localPort}|${flow.remoteAddress}|${flow.remotePort}|${flow.connectionId}`;
    let token = cache.get(key);
    if (token === undefined) {
      token = this.#encode(flow); // throws before caching anything for a bad descriptor
      cache.set(key, token);
    }
    return token;
  }

  #encode(flow: FlowDescriptor): string {
    const b = this.#enc;
    const code = TRANSPORT_CODE[flow.transport] as number | undefined;
    if (code === undefined) throw new FlowTokenError("bad-transport", `unknown transport ${String(flow.transport)}`);
    b[0] = FLOW_TOKEN_VERSION;
    let off = 2;
    let flags = code;
    const l = writeAddress(flow.localAddress, b, off);
    if (l === 0) throw new FlowTokenError("bad-address", `bad local address ${flow.localAddress}`);
    if (l === 16) flags |= V6_LOCAL;
    off += l;
    off = writePort(flow.localPort, b, off);
    const r = writeAddress(flow.remoteAddress, b, off);
    if (r === 0) throw new FlowTokenError("bad-address", `bad remote address ${flow.remoteAddress}`);
    if (r === 16) flags |= V6_REMOTE;
    off += r;
    off = writePort(flow.remotePort, b, off);
    b[1] = flags;
    const id = flow.connectionId;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new FlowTokenError("bad-connection-id", `connection id out of range: ${id}`);
    }
    let v = id;
    while (v >= 0x80) {
      b[off++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128); // not >>> : ids up to 2^32-1 exceed int32
    }
    b[off++] = v;
    const mac = createHmac("sha256", this.#key).update(b.subarray(0, off)).digest();
    mac.copy(b, off, 0, MAC_LEN);
    off += MAC_LEN;
    return b.toString("base64url", 0, off);
  }

  /**
   * The mark an edge puts on its internal Record-Route entry (`;em=`), made with the cluster key
   * over the edge's advertised internal "host:port". Another edge checks it to tell that a hop
   * names one of ours without relying on live membership (a NATS outage, a restart before the
   * first heartbeats: established calls keep their in-dialog requests). The input starts with a
   * zero octet, which no flow token body does (they start with the version), so the two MACs
   * never collide. 128 bits, base64url.
   */
  edgeMark(internalAddress: string): string {
    const address = internalAddress.toLowerCase();
    let mark = this.#marks.get(address);
    if (mark === undefined) {
      mark = createHmac("sha256", this.#key).update(EDGE_MARK_LABEL).update(address, "utf8").digest().subarray(0, 16).toString("base64url");
      this.#marks.set(address, mark);
    }
    return mark;
  }

  /** `mark` is the edge mark for this internal "host:port" (see {@link edgeMark}). */
  isEdgeMark(internalAddress: string, mark: string): boolean {
    const expected = this.edgeMark(internalAddress);
    return mark.length === expected.length && timingSafeEqual(Buffer.from(mark, "latin1"), Buffer.from(expected, "latin1"));
  }

  /** Verifies and decodes a token. Never throws: any input yields a result. */
  decode(token: string): FlowTokenDecodeResult {
    if (typeof token !== "string") return MALFORMED;
    const cache = this.#decoded;
    if (cache === undefined) return this.#decode(token);
    const hit = cache.get(token);
    if (hit !== undefined) return hit;
    const r = this.#decode(token);
    if (r.ok) {
      const frozen: FlowTokenDecodeResult = Object.freeze({ ok: true, flow: Object.freeze(r.flow) });
      cache.set(token, frozen);
      return frozen;
    }
    return r;
  }

  #decode(token: string): FlowTokenDecodeResult {
    const n = token.length;
    if (n < MIN_CHARS || n > MAX_CHARS || n % 4 === 1) return MALFORMED;
    for (let i = 0; i < n; i++) {
      const c = token.charCodeAt(i);
      if (c >= 128 || B64URL[c]! < 0) return MALFORMED;
    }
    // Canonical base64url only: the unused low bits of the last char must be zero,
    // otherwise two different strings would carry one token (and "tamper one
    // character" would not always be detected).
    const last = B64URL[token.charCodeAt(n - 1)]!;
    if ((n % 4 === 2 && (last & 0x0f) !== 0) || (n % 4 === 3 && (last & 0x03) !== 0)) return MALFORMED;

    const b = this.#dec;
    const len = b.write(token, 0, "base64url");
    if (len < MIN_BYTES || len > MAX_BYTES) return MALFORMED;
    if (b[0] !== FLOW_TOKEN_VERSION) return BAD_VERSION;

    // Verify before interpreting anything else (the structure is only trusted once signed).
    const body = len - MAC_LEN;
    const mac = createHmac("sha256", this.#key).update(b.subarray(0, body)).digest();
    if (!timingSafeEqual(mac.subarray(0, MAC_LEN), b.subarray(body, len))) return BAD_SIGNATURE;

    const flags = b[1]!;
    const transport = CODE_TRANSPORT[flags & TRANSPORT_MASK];
    if (transport === undefined || (flags & 0xc0) !== 0) return MALFORMED;
    const lLen = flags & V6_LOCAL ? 16 : 4;
    const rLen = flags & V6_REMOTE ? 16 : 4;
    let off = 2;
    if (off + lLen + 2 + rLen + 2 + 1 > body) return MALFORMED;
    const localAddress = lLen === 16 ? formatIPv6(b, off) : formatIPv4(b, off);
    off += lLen;
    const localPort = b.readUInt16BE(off);
    off += 2;
    const remoteAddress = rLen === 16 ? formatIPv6(b, off) : formatIPv4(b, off);
    off += rLen;
    const remotePort = b.readUInt16BE(off);
    off += 2;
    let connectionId = 0;
    let mul = 1;
    for (let k = 0; ; k++) {
      if (off >= body || k === 5) return MALFORMED;
      const byte = b[off++]!;
      connectionId += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) break;
    }
    if (off !== body || connectionId > 0xffffffff) return MALFORMED;
    return { ok: true, flow: { transport, localAddress, localPort, remoteAddress, remotePort, connectionId } };
  }
}

const MALFORMED = Object.freeze({ ok: false, reason: "malformed" } as const);
const BAD_VERSION = Object.freeze({ ok: false, reason: "bad-version" } as const);
const BAD_SIGNATURE = Object.freeze({ ok: false, reason: "bad-signature" } as const);

/** Returns bytes written (4 or 16), 0 if `s` is not an IP literal. Accepts `[v6]`. */
function writeAddress(s: string, b: Buffer, off: number): number {
  if (typeof s !== "string") return 0;
  if (s.indexOf(":") < 0) return writeIPv4(s, b, off) ? 4 : 0;
  const t = s.charCodeAt(0) === 0x5b && s.charCodeAt(s.length - 1) === 0x5d ? s.slice(1, -1) : s;
  return writeIPv6(t, b, off) ? 16 : 0;
}

function writePort(p: number, b: Buffer, off: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 0xffff) throw new FlowTokenError("bad-port", `port out of range: ${p}`);
  b.writeUInt16BE(p, off);
  return off + 2;
}

/**
 * Whether two descriptors name the same flow. Addresses compare by value, so
 * `::1` and `0:0:0:0:0:0:0:1` (or `[::1]`) are the same.
 */
export function sameFlow(a: FlowDescriptor, b: FlowDescriptor): boolean {
  return (
    a.transport === b.transport &&
    a.localPort === b.localPort &&
    a.remotePort === b.remotePort &&
    a.connectionId === b.connectionId &&
    sameAddress(a.remoteAddress, b.remoteAddress) &&
    sameAddress(a.localAddress, b.localAddress)
  );
}

const cmpA = Buffer.alloc(16);
const cmpB = Buffer.alloc(16);

function sameAddress(x: string, y: string): boolean {
  if (x === y) return true;
  const lx = writeAddress(x, cmpA, 0);
  const ly = writeAddress(y, cmpB, 0);
  return lx !== 0 && lx === ly && cmpA.compare(cmpB, 0, ly, 0, lx) === 0;
}
