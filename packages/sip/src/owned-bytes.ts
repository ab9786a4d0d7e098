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
 * characters or more as a view of its parent, so a value sliced from a message's text and kept
 * long (a transaction key for Timer J, a cache key) would otherwise keep the whole message alive.
 */
export function ownedString(s: string): string {
  return (" " + s).slice(1);
}
