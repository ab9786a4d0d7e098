/**
 * `bytes` in an ArrayBuffer of their own. Small Buffers made by `Buffer.from(string)`,
 * `Buffer.allocUnsafe` or the editor are views into Node's shared 8 KiB pool, and one view kept
 * alive keeps the whole pool slab with it. Whatever is kept long (a transaction's bytes for
 * retransmission, a write queued for a peer that is not reading) is copied to its exact size
 * first. Bytes that already own their buffer are returned as they are.
 */
export function ownedBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/**
 * A copy of `s` that does not point into the string it was cut from. V8 keeps a substring of 13
 * characters or more as a view of its parent (a sliced string), so a value sliced from a message's
 * text and kept long (a transaction key for Timer J, a cache key) would otherwise keep the whole
 * message alive.
 *
 * The copy is one flat string. The usual `(" " + s).slice(1)` flattens a one-character-longer copy
 * and then slices it: two heap objects per kept string, both held as long as the string is (rate x
 * 32 s of them for Timer J). Text cut from a SIP message is one-byte (the parser reads latin1), and
 * a latin1 round trip through a pooled Buffer gives a single flat string; anything it cannot carry
 * (a character above U+00FF) falls back to the slice. Below 13 characters the slice is flat already.
 */
export function ownedString(s: string): string {
  if (s.length < MIN_SLICED_LENGTH) return (" " + s).slice(1);
  const copy = Buffer.from(s, "latin1").toString("latin1");
  return copy === s ? copy : (" " + s).slice(1);
}

/** V8's SlicedString::kMinLength: shorter substrings are copied, not sliced. */
const MIN_SLICED_LENGTH = 13;
