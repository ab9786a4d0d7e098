/**
 * ByteSlab: uninitialised Buffers of a given size, handed out one after another from a shared slab
 * (a bump allocator). Every small `Buffer.from(string)` or `Buffer.allocUnsafe(n)` takes its bytes
 * from Node's 8 KiB pool the same way, but that pool is replaced every ten or so SIP messages, and
 * making a pool (an ArrayBuffer with a malloc'd backing store, tracked by the GC) cost ~130 ns per
 * message on the proxy round trip; a 64 KiB slab is replaced eight times less often.
 *
 * The price is the same as the pool's, eight times larger: one view kept alive keeps its whole slab.
 * So each ByteSlab serves one kind of bytes with one kind of lifetime: the editor's output (sent and
 * dropped; whatever keeps bytes long copies them first, see `ownedBytes`), and the transactions'
 * retransmission copies (kept until their last timer, in the order they were made).
 */
/**
 * The class behind Node's own Buffers (`Buffer[Symbol.species]`, FastBuffer): `new` on it makes the
 * same object `Buffer.from(arrayBuffer, offset, length)` returns, without that function's argument
 * checks, which cost about as much as the view itself on the proxy's hot path. Checked once; if a
 * Node version ever stops providing it, Buffer.from is used.
 */
type ViewClass = new (buffer: ArrayBuffer, byteOffset: number, length: number) => Buffer;
const BUFFER_CLASS: ViewClass | undefined = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species !== "function") return undefined;
  try {
    const probe = new (species as ViewClass)(new ArrayBuffer(4), 1, 2);
    return Buffer.isBuffer(probe) && Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 2
      ? (species as ViewClass)
      : undefined;
  } catch {
    return undefined;
  }
})();

function viewOf(slab: ArrayBuffer, offset: number, length: number): Buffer {
  return BUFFER_CLASS !== undefined ? new BUFFER_CLASS(slab, offset, length) : Buffer.from(slab, offset, length);
}

export class ByteSlab {
  readonly #slabBytes: number;
  readonly #largestShared: number;
  #slab = new ArrayBuffer(0);
  #used = 0;

  /**
   * @param slabBytes size of each shared slab
   * @param largestShared a request larger than this gets a buffer of its own (exact size), rather
   *   than a whole slab or the wasted tail of one
   */
  constructor(slabBytes: number, largestShared: number) {
    if (!(largestShared > 0 && largestShared <= slabBytes)) {
      throw new RangeError(`largestShared ${largestShared} must be in 1..slabBytes (${slabBytes})`);
    }
    this.#slabBytes = slabBytes;
    this.#largestShared = largestShared;
  }

  /** `n` uninitialised bytes: a view into the current slab, or a buffer of their own when large. */
  take(n: number): Buffer {
    if (n > this.#largestShared) return Buffer.allocUnsafeSlow(n);
    if (this.#used + n > this.#slab.byteLength) {
      this.#slab = Buffer.allocUnsafeSlow(this.#slabBytes).buffer as ArrayBuffer;
      this.#used = 0;
    }
    const view = viewOf(this.#slab, this.#used, n);
    this.#used += n;
    return view;
  }
}
