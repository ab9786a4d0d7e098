/**
 * Buffers for outgoing messages, cut from a private 64 KiB slab.
 *
 * `Buffer.allocUnsafe` cuts small buffers from Node's shared 8 KiB pool, so a forwarded ~700-byte
 * message creates a new pool ArrayBuffer every ten messages; creating ArrayBuffers is what made
 * the editor's toBuffer cost twice the splice itself (measured: 167 ns per allocUnsafe(750)
 * against ~50 ns for a view into a slab). A view pins its slab like a pool view pins its pool:
 * the transaction layer already keeps an exact-size copy of anything it holds for retransmission
 * (packages/transactions, Transaction.hold), and everything else is sent and dropped at once.
 */
const SLAB_BYTES = 64 * 1024;
/** larger messages get their own buffer: a slab holds at least eight of the largest it serves */
const SLAB_MAX_PIECE = SLAB_BYTES >>> 3;

let slab: ArrayBuffer = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** Uninitialised bytes for one outgoing message; the caller writes every byte. */
export function allocOutBytes(n: number): Buffer {
  if (n > SLAB_MAX_PIECE) return Buffer.allocUnsafeSlow(n);
  if (used + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = Buffer.from(slab, used, n);
  // 8-byte alignment keeps every view's offset aligned, as Node's pool does
  used = (used + n + 7) & ~7;
  return out;
}
