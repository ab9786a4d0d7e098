/**
 * Where an unreliable-transport transaction keeps the bytes it may have to send again while it waits
 * out its last timer: a non-INVITE server's final response (Timer J), an INVITE server's non-2xx final
 * (Timers G/H, then I) and an INVITE client's ACK for a non-2xx (Timer D).
 *
 * Those waits are all bounded by the RFC 3261 §17 timers (64*T1 plus at most T4, 37 s with the
 * defaults) and start in the order the bytes are kept, so the copies die in about the order they were
 * made. That is the one lifetime a bump allocator suits: copies go one after another into a shared
 * 64 KiB slab, and a slab is freed by the GC once its last copy's transaction has ended, about one
 * wait after the slab filled. An exact-size copy per transaction (what `ownedBytes` makes) costs an
 * ArrayBuffer object, its GC bookkeeping and a malloc'd backing store for each of the rate x 32 s
 * transactions a UDP worker holds; here each one costs only the Buffer view.
 *
 * Not for bytes kept an unbounded time (an INVITE server's last provisional while the phone rings,
 * a client INVITE while Timer C runs): one such copy would keep its whole slab alive. Those use
 * `ownedBytes`.
 */
import { ByteSlab, ownedBytes } from "@edgepath/sip";

const SLAB_BYTES = 64 * 1024;
/** Larger messages get an exact-size buffer of their own rather than wasting the rest of a slab. */
const LARGEST_SHARED = 8 * 1024;

/** Retransmission copies only: mixing in bytes of another lifetime would change what pins a slab. */
const RETRANSMISSION_SLAB = new ByteSlab(SLAB_BYTES, LARGEST_SHARED);

/**
 * A copy of `bytes` in the shared retransmission slab (see the module comment for when to use it).
 * Over 8 KiB, what `ownedBytes` gives: bytes that own their buffer as they are, a view copied out.
 */
export function keepForRetransmission(bytes: Buffer): Buffer {
  if (bytes.length > LARGEST_SHARED) return ownedBytes(bytes);
  const copy = RETRANSMISSION_SLAB.take(bytes.length);
  bytes.copy(copy);
  return copy;
}
