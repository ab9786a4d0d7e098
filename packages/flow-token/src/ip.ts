/**
 * Compact IP address packing for flow tokens: IPv4 as 4 bytes, IPv6 as 16 bytes,
 * and the reverse with IPv6 text in the RFC 5952 canonical form (lower case,
 * longest run of zero groups compressed, IPv4-mapped shown as `::ffff:a.b.c.d`).
 *
 * Pure functions, no allocation beyond the result string.
 */

/** Writes the IPv4 dotted quad at `off`; returns false if `s` is not one. */
export function writeIPv4(s: string, buf: Buffer, off: number): boolean {
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; /* virtual trailing "." */
    if (c >= 0x30 && c <= 0x39) {
      // No leading zeros ("01"): they are octal in some stacks, ambiguous in all.
      if (digits > 0 && octet === 0) return false;
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) return false;
    } else if (c === 0x2e) {
      if (digits === 0 || parts === 4) return false;
      buf[off + parts] = octet;
      parts++;
      octet = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return parts === 4;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Writes the 16 bytes of an IPv6 address (RFC 4291 §2.2 text forms, including an
 * embedded dotted quad in the low 32 bits) at `off`. Zone ids (`%eth0`) are not
 * representable and return false.
 */
export function writeIPv6(s: string, buf: Buffer, off: number): boolean {
  const groups: number[] = [];
  let gap = -1; // index in groups where "::" sits
  let i = 0;
  const n = s.length;
  if (n < 2) return false;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === n) {
      buf.fill(0, off, off + 16);
      return true;
    }
  }
  while (i < n) {
    // Embedded IPv4 (only as the last piece).
    let j = i;
    let isV4 = false;
    while (j < n && s.charCodeAt(j) !== 0x3a) {
      if (s.charCodeAt(j) === 0x2e) isV4 = true;
      j++;
    }
    if (isV4) {
      if (j !== n || groups.length > 6) return false;
      const tmp = Buffer.allocUnsafe(4);
      if (!writeIPv4(s.slice(i, j), tmp, 0)) return false;
      groups.push((tmp[0]! << 8) | tmp[1]!, (tmp[2]! << 8) | tmp[3]!);
      break;
    }
    const len = j - i;
    if (len === 0 || len > 4) return false;
    let v = 0;
    for (let k = i; k < j; k++) {
      const h = hexVal(s.charCodeAt(k));
      if (h < 0) return false;
      v = (v << 4) | h;
    }
    groups.push(v);
    if (groups.length > 8) return false;
    i = j;
    if (i === n) break;
    // s[i] is ":"
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false; // two "::"
      gap = groups.length;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false; // trailing single ":"
    }
  }
  if (gap < 0) {
    if (groups.length !== 8) return false;
  } else if (groups.length > 7) {
    return false;
  }
  const zeros = 8 - groups.length;
  let g = 0;
  for (let k = 0; k < 8; k++) {
    let v: number;
    if (gap >= 0 && k >= gap && k < gap + zeros) v = 0;
    else v = groups[g++]!;
    buf[off + 2 * k] = v >> 8;
    buf[off + 2 * k + 1] = v & 0xff;
  }
  return true;
}

export function formatIPv4(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** RFC 5952 §4 canonical text of 16 bytes at `off`. */
export function formatIPv6(buf: Uint8Array, off: number): string {
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  let mapped = buf[off + 10] === 0xff && buf[off + 11] === 0xff;
  for (let k = 0; mapped && k < 10; k++) if (buf[off + k] !== 0) mapped = false;
  if (mapped) return `::ffff:${formatIPv4(buf, off + 12)}`;

  const g = new Array<number>(8);
  for (let k = 0; k < 8; k++) g[k] = (buf[off + 2 * k]! << 8) | buf[off + 2 * k + 1]!;
  // RFC 5952 §4.2.2/§4.2.3: compress the longest run (>= 2 groups) of zeros, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) {
      bestStart = k;
      bestLen = e - k;
    }
    k = e;
  }
  let out = "";
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += "::";
      k += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(":")) out += ":";
    out += g[k]!.toString(16);
  }
  return out;
}
