/**
 * The STUN subset a SIP edge needs to be a keepalive server for RFC 5626 §4.4.2 / §8.4:
 * recognise a Binding request (RFC 5389 §6) arriving on the SIP UDP port, and answer a
 * Binding success response carrying XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
 *
 * Pure functions over bytes, no sockets. Not supported (not needed for keepalives): authentication
 * (RFC 5626 §8.4 says keepalive requests carry none), FINGERPRINT/SOFTWARE in responses, error
 * responses for unknown comprehension-required attributes (RFC 5389 §7.3.1) — such requests are
 * answered as if the attributes were absent, which keeps the NAT binding alive either way.
 */

/** RFC 5389 §6: fixed value in bytes 4..7 of every STUN message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_BYTES = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS_RESPONSE = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

/**
 * RFC 5389 §6 / RFC 7983: the two most significant bits of a STUN message are 0 and the magic
 * cookie is present. SIP start lines begin with a printable token character (>= 0x21) and never
 * carry the cookie, so this tells the two apart on a shared port.
 */
export function looksLikeStun(b: Buffer): boolean {
  return b.length >= STUN_HEADER_BYTES && ((b[0] ?? 0xff) & 0xc0) === 0 && b.readUInt32BE(4) === STUN_MAGIC_COOKIE;
}

/** A well-formed Binding request: right type, and the length field (a multiple of 4) matches the datagram. */
export function isStunBindingRequest(b: Buffer): boolean {
  if (!looksLikeStun(b)) return false;
  if (b.readUInt16BE(0) !== BINDING_REQUEST) return false;
  const length = b.readUInt16BE(2);
  return (length & 3) === 0 && STUN_HEADER_BYTES + length === b.length;
}

/**
 * The Binding success response to `request` telling the client the transport address it was seen
 * from (RFC 5389 §7.3.1; XOR-MAPPED-ADDRESS §15.2). The transaction ID is copied from the request.
 * Returns undefined when `address` is not an IPv4/IPv6 literal.
 */
export function buildBindingSuccessResponse(request: Buffer, address: string, port: number): Buffer | undefined {
  const v4 = parseIpv4(address);
  const ip = v4 ?? parseIpv6(address);
  if (ip === undefined) return undefined;
  const addrLen = ip.length; // 4 or 16
  const attrLen = 4 + addrLen; // reserved, family, x-port, x-address
  const out = Buffer.allocUnsafe(STUN_HEADER_BYTES + 4 + attrLen);
  out.writeUInt16BE(BINDING_SUCCESS_RESPONSE, 0);
  out.writeUInt16BE(4 + attrLen, 2);
  out.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  request.copy(out, 8, 8, STUN_HEADER_BYTES); // transaction ID
  let o = STUN_HEADER_BYTES;
  out.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, o);
  out.writeUInt16BE(attrLen, o + 2);
  out[o + 4] = 0;
  out[o + 5] = addrLen === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  // X-Port: port XOR the 16 most significant bits of the magic cookie.
  out.writeUInt16BE((port ^ (STUN_MAGIC_COOKIE >>> 16)) & 0xffff, o + 6);
  o += 8;
  // X-Address: XOR the magic cookie (IPv4), or the cookie followed by the transaction ID (IPv6);
  // bytes 4..19 of the header are exactly that concatenation.
  for (let i = 0; i < addrLen; i++) out[o + i] = (ip[i] ?? 0) ^ (out[4 + i] ?? 0);
  return out;
}

/** The mapped address in a Binding success response (for tests and for a STUN client). */
export function readXorMappedAddress(response: Buffer): { family: 4 | 6; address: string; port: number } | undefined {
  if (!looksLikeStun(response) || response.readUInt16BE(0) !== BINDING_SUCCESS_RESPONSE) return undefined;
  const end = Math.min(response.length, STUN_HEADER_BYTES + response.readUInt16BE(2));
  let o = STUN_HEADER_BYTES;
  while (o + 4 <= end) {
    const type = response.readUInt16BE(o);
    const len = response.readUInt16BE(o + 2);
    if (type === ATTR_XOR_MAPPED_ADDRESS && o + 4 + len <= end && len >= 8) {
      const family = response[o + 5];
      const port = response.readUInt16BE(o + 6) ^ (STUN_MAGIC_COOKIE >>> 16);
      const n = family === FAMILY_IPV4 ? 4 : 16;
      if (len < 4 + n) return undefined;
      const bytes = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) bytes[i] = (response[o + 8 + i] ?? 0) ^ (response[4 + i] ?? 0);
      return { family: n === 4 ? 4 : 6, address: n === 4 ? bytes.join(".") : formatIpv6(bytes), port };
    }
    o += 4 + ((len + 3) & ~3); // attributes are padded to 4 bytes (RFC 5389 §15)
  }
  return undefined;
}

function parseIpv4(s: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; /* virtual trailing '.' */
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

function parseHextets(s: string, into: number[]): boolean {
  if (s === "") return true;
  for (const g of s.split(":")) {
    if (g.length === 0 || g.length > 4) return false;
    let v = 0;
    for (let i = 0; i < g.length; i++) {
      const c = g.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    into.push(v);
  }
  return true;
}

function parseIpv6(input: string): Buffer | undefined {
  let s = input;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (s.indexOf(":") === -1) return undefined;
  // An embedded IPv4 tail ("::ffff:192.0.2.1") counts as two hextets.
  let v4Tail: Buffer | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) !== -1) {
    v4Tail = parseIpv4(s.slice(lastColon + 1));
    if (v4Tail === undefined) return undefined;
    s = s.slice(0, lastColon + 1) + "0:0"; // placeholder hextets, overwritten below
  }
  const dbl = s.indexOf("::");
  const head: number[] = [];
  const tail: number[] = [];
  if (dbl === -1) {
    if (!parseHextets(s, head) || head.length !== 8) return undefined;
  } else {
    if (s.indexOf("::", dbl + 1) !== -1) return undefined;
    if (!parseHextets(s.slice(0, dbl), head) || !parseHextets(s.slice(dbl + 2), tail)) return undefined;
    if (head.length + tail.length > 7) return undefined;
  }
  const out = Buffer.alloc(16);
  for (let i = 0; i < head.length; i++) out.writeUInt16BE(head[i] ?? 0, i * 2);
  for (let i = 0; i < tail.length; i++) out.writeUInt16BE(tail[i] ?? 0, 16 - (tail.length - i) * 2);
  if (v4Tail !== undefined) v4Tail.copy(out, 12);
  return out;
}

function formatIpv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(":");
}
