/**
 * The cluster bus interface (DESIGN §4 "NATS carries what changes") and the
 * in-process implementation used in embedded mode and tests. The NATS
 * implementation lives in @edgepath/cluster-nats behind the same interface.
 *
 * Subjects follow NATS rules: dot-separated tokens; in subscriptions "*" matches
 * exactly one token and ">" (last token only) matches one or more tokens.
 */

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Trace context (W3C traceparent) and other metadata travel here. */
  readonly headers: ReadonlyMap<string, string>;
  /** Parses `data` as UTF-8 JSON. Throws SyntaxError on bad JSON. */
  json<T>(): T;
}

export interface Subscription {
  unsubscribe(): void;
}

export interface ClusterBus {
  /** `object` payloads are sent as JSON. Throws BusError on a bad subject or a closed bus. */
  publish(subject: string, data: Uint8Array | string | object, headers?: Record<string, string>): void;
  /** NATS wildcards "*" and ">" supported. */
  subscribe(subject: string, handler: (m: BusMessage) => void): Subscription;
  /** Resolves once everything published before the call has been handed on. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly connected: boolean;
}

export class BusError extends Error {
  override readonly name = "BusError";
  readonly code: "bad-subject" | "closed";
  constructor(code: BusError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire bytes for a publish payload (a copy: the caller may reuse its buffer). */
export function encodePayload(data: Uint8Array | string | object): Uint8Array {
  if (data instanceof Uint8Array) return data.slice();
  if (typeof data === "string") return encoder.encode(data);
  return encoder.encode(JSON.stringify(data));
}

/** A BusMessage over received bytes; shared by bus implementations. */
export function makeBusMessage(subject: string, data: Uint8Array, headers: ReadonlyMap<string, string>): BusMessage {
  return {
    subject,
    data,
    headers,
    json<T>(): T {
      return JSON.parse(decoder.decode(data)) as T;
    },
  };
}

const EMPTY_HEADERS: ReadonlyMap<string, string> = new Map();

function tokensOk(subject: string, allowWildcards: boolean): boolean {
  if (subject.length === 0 || /\s/.test(subject)) return false;
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.length === 0) return false;
    if (t === "*" || t === ">") {
      if (!allowWildcards) return false;
      if (t === ">" && i !== tokens.length - 1) return false;
    } else if (t.includes("*") || t.includes(">")) {
      return false;
    }
  }
  return true;
}

/** Publish subjects: tokens, no wildcards. */
export function isValidSubject(subject: string): boolean {
  return tokensOk(subject, false);
}

/** Subscription subjects: tokens, "*" anywhere, ">" last. */
export function isValidPattern(pattern: string): boolean {
  return tokensOk(pattern, true);
}

/** NATS matching: "*" one token, ">" one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const t = p[i]!;
    if (t === ">") return s.length > i;
    if (i >= s.length) return false;
    if (t !== "*" && t !== s[i]) return false;
  }
  return p.length === s.length;
}

interface Sub {
  readonly pattern: string;
  readonly exact: boolean;
  readonly handler: (m: BusMessage) => void;
  active: boolean;
}

interface Delivery {
  readonly subs: readonly Sub[];
  readonly msg: BusMessage;
}

export interface InProcessBusOptions {
  /** Called when a handler throws; the other handlers still run. Default: process.emitWarning. */
  readonly onHandlerError?: (err: unknown, subject: string) => void;
}

/**
 * Embedded-mode bus. Delivery is asynchronous (microtasks) but in publish order,
 * to every subscription that matched when the message was published and is still
 * subscribed when it is delivered; a process hears its own messages, as on NATS.
 */
export class InProcessBus implements ClusterBus {
  readonly #subs = new Set<Sub>();
  readonly #queue: Delivery[] = [];
  #head = 0;
  #scheduled = false;
  #waiters: (() => void)[] = [];
  #connected = true;
  readonly #onHandlerError: (err: unknown, subject: string) => void;

  constructor(opts: InProcessBusOptions = {}) {
    this.#onHandlerError =
      opts.onHandlerError ??
      ((err, subject) => {
        process.emitWarning(`InProcessBus handler for ${subject} threw: ${err instanceof Error ? err.message : String(err)}`);
      });
  }

  get connected(): boolean {
    return this.#connected;
  }

  publish(subject: string, data: Uint8Array | string | object, headers?: Record<string, string>): void {
    if (!this.#connected) throw new BusError("closed", "bus is closed");
    if (!isValidSubject(subject)) throw new BusError("bad-subject", `invalid publish subject "${subject}"`);
    const subs: Sub[] = [];
    for (const s of this.#subs) if (s.exact ? s.pattern === subject : subjectMatches(s.pattern, subject)) subs.push(s);
    if (subs.length === 0) return;
    const h = headers === undefined ? EMPTY_HEADERS : new Map(Object.entries(headers));
    this.#queue.push({ subs, msg: makeBusMessage(subject, encodePayload(data), h) });
    this.#schedule();
  }

  subscribe(subject: string, handler: (m: BusMessage) => void): Subscription {
    if (!this.#connected) throw new BusError("closed", "bus is closed");
    if (!isValidPattern(subject)) throw new BusError("bad-subject", `invalid subscription subject "${subject}"`);
    const sub: Sub = { pattern: subject, exact: !subject.includes("*") && !subject.includes(">"), handler, active: true };
    this.#subs.add(sub);
    return {
      unsubscribe: () => {
        sub.active = false;
        this.#subs.delete(sub);
      },
    };
  }

  flush(): Promise<void> {
    if (this.#head >= this.#queue.length) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    if (!this.#connected) return;
    await this.flush();
    this.#connected = false;
    for (const s of this.#subs) s.active = false;
    this.#subs.clear();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    // Messages published by handlers are appended and delivered in this same drain,
    // after everything already queued: global publish order is kept.
    while (this.#head < this.#queue.length) {
      const d = this.#queue[this.#head++]!;
      for (const s of d.subs) {
        if (!s.active) continue;
        try {
          s.handler(d.msg);
        } catch (err) {
          this.#onHandlerError(err, d.msg.subject);
        }
      }
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.#scheduled = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
