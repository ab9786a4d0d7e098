/**
 * Timer queues for RFC 3261 §17 transaction timers (used by TransactionBase.startTimer).
 */
import type { Scheduler } from "./types.js";

/** Timer names as RFC 3261 §17 (A..K) and RFC 6026 (L, M) spell them. */
export type TimerName = "A" | "B" | "D" | "E" | "F" | "G" | "H" | "I" | "J" | "K" | "L" | "M";

/** What a queue entry belongs to: a transaction, which knows what the entry is for and whether it still counts. */
export interface TimerOwner {
  /** Called when the entry `ticket` of `queue` is due. */
  expireTimer(queue: TimerQueue, ticket: number): void;
}

/**
 * The timers of every transaction on one scheduler, one FIFO queue per duration. RFC 3261 §17 timers
 * take a handful of distinct durations (T1 doublings up to T2, T4, 64*T1, 32 s), and within one
 * duration the order of starting is the order of expiry, so a queue is an array appended at the tail
 * and consumed at the head, with one scheduler timer for the head entry. Compared with a Node timer
 * per transaction (Timeout object, closure, context, boxed start time: ~330 B that live for Timer J's
 * 32 s on UDP) an entry is two array slots. A cleared timer's slot is emptied at once (no reference
 * to the transaction is kept) and skipped when its time comes.
 */
export class TimerQueue {
  readonly #scheduler: Scheduler;
  readonly #ms: number;
  /** Parallel arrays from #head: the owner (undefined when cancelled) and the due time. */
  #txs: (TimerOwner | undefined)[] = [];
  #due: number[] = [];
  #head = 0;
  /** Ticket of the entry at index 0 of the arrays (tickets count up per queue). */
  #base = 0;
  /** The scheduler timer for the head entry; undefined while the queue is empty. */
  #handle: unknown;
  #running = false;

  constructor(scheduler: Scheduler, ms: number) {
    this.#scheduler = scheduler;
    this.#ms = ms;
  }

  /** Appends an entry due in this queue's duration; returns its ticket. */
  add(tx: TimerOwner): number {
    this.#txs.push(tx);
    this.#due.push(this.#scheduler.now() + this.#ms);
    if (this.#handle === undefined && !this.#running) this.#arm(this.#ms);
    return this.#base + this.#txs.length - 1;
  }

  cancel(ticket: number): void {
    const i = ticket - this.#base;
    if (i < this.#head || i >= this.#txs.length) return;
    this.#txs[i] = undefined;
    if (i !== this.#head) return;
    // The head went: an empty queue keeps no scheduler timer.
    this.#skipCancelled();
    if (this.#head === this.#txs.length && this.#handle !== undefined) {
      this.#scheduler.clearTimeout(this.#handle);
      this.#handle = undefined;
    }
  }

  #arm(ms: number): void {
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional
    // remainder (due - now) would make a new list on almost every re-arm.
    this.#handle = this.#scheduler.setTimeout(this.#run, Math.max(0, Math.ceil(ms)));
  }

  readonly #run = (): void => {
    this.#handle = undefined;
    // Callbacks below may add to this queue (Timer E, A, G restart themselves): the queue arms once, after.
    this.#running = true;
    try {
      const now = this.#scheduler.now();
      // Node fires a timer by its loop clock, which can lag performance.now(): an entry found not yet
      // due is re-armed for the remainder (at most a millisecond later than a timer of its own).
      while (this.#head < this.#txs.length && this.#due[this.#head]! <= now) {
        const i = this.#head++;
        const tx = this.#txs[i];
        if (tx === undefined) continue;
        this.#txs[i] = undefined;
        tx.expireTimer(this, this.#base + i);
      }
    } finally {
      // Even when a callback threw, the queue stays consistent and armed for what is left. The
      // head is never a cancelled entry outside #run (cancel skips them too), so a queue whose
      // entries were all cancelled holds no scheduler timer.
      this.#running = false;
      this.#skipCancelled();
      if (this.#head < this.#txs.length) this.#arm(this.#due[this.#head]! - this.#scheduler.now());
    }
  };

  /** Moves the head past cancelled entries, so that it is never one outside #run, and compacts. */
  #skipCancelled(): void {
    while (this.#head < this.#txs.length && this.#txs[this.#head] === undefined) this.#head++;
    this.#compact();
  }

  /** Drops the consumed head of the arrays once it is most of them. */
  #compact(): void {
    const head = this.#head;
    if (head === this.#txs.length) {
      this.#base += head;
      this.#head = 0;
      this.#txs.length = this.#due.length = 0;
    } else if (head >= 1024 && head * 2 >= this.#txs.length) {
      this.#base += head;
      this.#head = 0;
      this.#txs = this.#txs.slice(head);
      this.#due = this.#due.slice(head);
    }
  }
}

const QUEUES = new WeakMap<Scheduler, Map<number, TimerQueue>>();

/** The queue of `scheduler` for timers of `ms` (made on first use; queues live as long as their scheduler). */
export function timerQueue(scheduler: Scheduler, ms: number): TimerQueue {
  let byMs = QUEUES.get(scheduler);
  if (byMs === undefined) {
    byMs = new Map();
    QUEUES.set(scheduler, byMs);
  }
  let q = byMs.get(ms);
  if (q === undefined) {
    q = new TimerQueue(scheduler, ms);
    byMs.set(ms, q);
  }
  return q;
}
