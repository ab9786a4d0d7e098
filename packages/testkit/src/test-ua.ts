import { randomBytes } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, connect, type Server, type Socket } from "node:net";
import { TestkitError } from "./errors.js";

export type TestUaTransport = "udp" | "tcp";

export interface UaTarget {
  readonly host: string;
  readonly port: number;
}

/** `nextMessage`/`request` saw nothing that matched in time. */
export class TestUaTimeoutError extends TestkitError {
  override readonly name = "TestUaTimeoutError";
  constructor(what: string, timeoutMs: number, unconsumed: readonly string[]) {
    super(
      "ua-timeout",
      `TestUa: no ${what} within ${timeoutMs} ms` +
        (unconsumed.length === 0 ? " (nothing else received)" : `; unconsumed: ${unconsumed.map((m) => JSON.stringify(firstLine(m))).join(", ")}`),
    );
  }
}

interface Waiter {
  readonly filter: (m: string) => boolean;
  readonly resolve: (m: string) => void;
}

/**
 * A deliberately dumb SIP user agent for end-to-end tests over real sockets: it sends
 * the bytes you give it and hands back the raw text of what it receives. No parser, no
 * transaction layer, no retransmissions (loopback does not lose datagrams) — so a test
 * can send anything, malformed included, and assert on exact bytes.
 *
 * UDP: one socket bound to `host:0`. TCP: a listening socket on `host:0` (`port`) for
 * connections towards us, plus one outbound connection per target, reused by `send`
 * (RFC 5626 outbound flows: the edge answers over the connection the request came on).
 * TCP input is framed by Content-Length (RFC 3261 §18.3); bare CRLFs between messages
 * (RFC 5626 §4.4.1 keepalive pongs) are counted in `crlfReceived`, not queued.
 */
export class TestUa {
  readonly transport: TestUaTransport;
  readonly contactHost: string;
  readonly port: number;
  /** Every message received, in order, consumed or not. */
  readonly received: string[] = [];
  /** Socket errors seen (connection refused, reset); never thrown into the test. */
  readonly errors: Error[] = [];
  crlfReceived = 0;

  readonly #udp: UdpSocket | undefined;
  readonly #server: Server | undefined;
  readonly #connections = new Map<string, Socket>();
  readonly #queue: string[] = [];
  readonly #waiters: Waiter[] = [];
  #closed = false;

  private constructor(transport: TestUaTransport, host: string, port: number, udp?: UdpSocket, server?: Server) {
    this.transport = transport;
    this.contactHost = host;
    this.port = port;
    this.#udp = udp;
    this.#server = server;
  }

  static async create(opts: { transport: TestUaTransport; host?: string }): Promise<TestUa> {
    const host = opts.host ?? "127.0.0.1";
    if (opts.transport === "udp") {
      const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ port: 0, address: host }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
      const ua = new TestUa("udp", host, socket.address().port, socket);
      socket.on("message", (msg) => ua.#onDatagram(msg));
      socket.on("error", (err) => ua.errors.push(err));
      return ua;
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: 0, host }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    const ua = new TestUa("tcp", host, port, undefined, server);
    server.on("connection", (socket) => ua.#adopt(socket, `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`));
    server.on("error", (err) => ua.errors.push(err));
    return ua;
  }

  /** `host:port` for Via sent-by and Contact. */
  get hostport(): string {
    return this.contactHost.includes(":") ? `[${this.contactHost}]:${this.port}` : `${this.contactHost}:${this.port}`;
  }

  /** Sends raw bytes. TCP: over the existing connection to `target`, connecting first if there is none. */
  send(bytes: string | Buffer, target: UaTarget): void {
    if (this.#closed) throw new TestkitError("ua-closed", "TestUa is closed");
    const data = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes;
    if (this.#udp !== undefined) {
      this.#udp.send(data, target.port, target.host);
      return;
    }
    this.#connection(target).write(data);
  }

  /** Local port of the TCP connection to `target` (what the far end sees), if connected. */
  connectionPort(target: UaTarget): number | undefined {
    return this.#connections.get(key(target))?.localPort;
  }

  /** Closes the TCP connection to `target` (simulates a flow failure, RFC 5626 §5.3). */
  async dropConnection(target: UaTarget): Promise<void> {
    const socket = this.#connections.get(key(target));
    if (socket === undefined) return;
    this.#connections.delete(key(target));
    await new Promise<void>((resolve) => {
      socket.once("close", () => resolve());
      socket.destroy();
    });
  }

  /**
   * The next received SIP message (raw text) matching `filter`, oldest first. Messages that
   * do not match stay queued for later calls. Rejects with {@link TestUaTimeoutError}.
   */
  nextMessage(filter: (m: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
    const i = this.#queue.findIndex(filter);
    if (i >= 0) return Promise.resolve(this.#queue.splice(i, 1)[0] as string);
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        filter,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(new TestUaTimeoutError("matching message", timeoutMs, this.#queue));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Sends a request and resolves with its final response (status >= 200), matched by
   * Call-ID and CSeq (RFC 3261 §17.1.3 would use the branch; Call-ID + CSeq is enough for
   * a UA that sends one request per transaction). Provisional responses are consumed.
   */
  async request(text: string, target: UaTarget, timeoutMs = 5000): Promise<string> {
    const callId = sipHeader(text, "call-id");
    const cseq = sipHeader(text, "cseq");
    if (callId === undefined || cseq === undefined) throw new TestkitError("ua-bad-request", "request() needs Call-ID and CSeq headers");
    const wanted = normaliseCseq(cseq);
    const deadline = Date.now() + timeoutMs;
    this.send(text, target);
    for (;;) {
      const left = deadline - Date.now();
      let response: string;
      try {
        response = await this.nextMessage(
          (m) => sipStatus(m) !== undefined && sipHeader(m, "call-id") === callId && normaliseCseq(sipHeader(m, "cseq") ?? "") === wanted,
          Math.max(left, 1),
        );
      } catch (err) {
        if (err instanceof TestUaTimeoutError) {
          throw new TestUaTimeoutError(`final response to ${wanted} (Call-ID ${callId})`, timeoutMs, this.#queue);
        }
        throw err;
      }
      if ((sipStatus(response) ?? 0) >= 200) return response;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#udp !== undefined) {
      await new Promise<void>((resolve) => this.#udp?.close(() => resolve()));
    }
    for (const socket of this.#connections.values()) socket.destroy();
    this.#connections.clear();
    if (this.#server !== undefined) {
      await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #connection(target: UaTarget): Socket {
    const k = key(target);
    const existing = this.#connections.get(k);
    if (existing !== undefined && !existing.destroyed) return existing;
    const socket = connect({ host: target.host, port: target.port, localAddress: this.contactHost });
    this.#adopt(socket, k);
    return socket;
  }

  #adopt(socket: Socket, k: string): void {
    this.#connections.set(k, socket);
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const framed = frameStream(buf);
        this.crlfReceived += framed.crlfs;
        buf = framed.rest;
        if (framed.message === undefined) break;
        this.#deliver(framed.message);
      }
    });
    socket.on("error", (err) => this.errors.push(err));
    socket.on("close", () => {
      if (this.#connections.get(k) === socket) this.#connections.delete(k);
    });
  }

  #onDatagram(msg: Buffer): void {
    const text = msg.toString("utf8");
    if (text.trim() === "") {
      this.crlfReceived++;
      return;
    }
    this.#deliver(text);
  }

  #deliver(message: string): void {
    this.received.push(message);
    const i = this.#waiters.findIndex((w) => w.filter(message));
    if (i >= 0) {
      const [waiter] = this.#waiters.splice(i, 1);
      waiter?.resolve(message);
      return;
    }
    this.#queue.push(message);
  }
}

const HEADER_END = Buffer.from("\r\n\r\n");

/**
 * One step of RFC 3261 §18.3 stream framing: skips leading CRLFs (keepalives), then
 * returns the first complete message (headers + Content-Length bytes of body) if the
 * buffer holds one. Exported for unit tests.
 */
export function frameStream(buf: Buffer): { message?: string; rest: Buffer; crlfs: number } {
  let start = 0;
  let crlfs = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) {
    start += 2;
    crlfs++;
  }
  const end = buf.indexOf(HEADER_END, start);
  if (end < 0) return { rest: buf.subarray(start), crlfs };
  const head = buf.toString("utf8", start, end + 4);
  const length = Number(sipHeader(head, "content-length") ?? "0");
  const total = end + 4 + (Number.isInteger(length) && length > 0 ? length : 0);
  if (buf.length < total) return { rest: buf.subarray(start), crlfs };
  return { message: buf.toString("utf8", start, total), rest: buf.subarray(total), crlfs };
}

/** RFC 3261 §7.3.3 compact forms of the headers a test is likely to read. */
const COMPACT: Readonly<Record<string, string>> = {
  "call-id": "i", contact: "m", "content-length": "l", "content-type": "c", from: "f", to: "t", via: "v",
  supported: "k", subject: "s", "content-encoding": "e", event: "o", "refer-to": "r", "allow-events": "u",
};

function headerSection(message: string): string {
  const end = message.indexOf("\r\n\r\n");
  return end < 0 ? message : message.slice(0, end);
}

/** All values of header `name` (case-insensitive, compact form too), in order, one per header line. */
export function sipHeaders(message: string, name: string): string[] {
  const lower = name.toLowerCase();
  const compact = COMPACT[lower];
  const out: string[] = [];
  // Unfold continuation lines (RFC 3261 §7.3.1) before splitting.
  const lines = headerSection(message).replace(/\r\n[ \t]+/g, " ").split("\r\n").slice(1);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const field = line.slice(0, colon).trim().toLowerCase();
    if (field === lower || field === compact) out.push(line.slice(colon + 1).trim());
  }
  return out;
}

/** The first value of header `name`, or `undefined`. */
export function sipHeader(message: string, name: string): string | undefined {
  return sipHeaders(message, name)[0];
}

/** Status code of a response, `undefined` for a request. */
export function sipStatus(message: string): number | undefined {
  const m = /^SIP\/2\.0 (\d{3}) /.exec(message);
  return m === null ? undefined : Number(m[1]);
}

/** Method of a request, `undefined` for a response. */
export function sipMethod(message: string): string | undefined {
  const m = /^([A-Za-z]+) \S+ SIP\/2\.0\r\n/.exec(message);
  return m?.[1];
}

/** Body of a message (after the blank line). */
export function sipBody(message: string): string {
  const end = message.indexOf("\r\n\r\n");
  return end < 0 ? "" : message.slice(end + 4);
}

/**
 * Assembles a message from a start line and header lines, appending Content-Length
 * (byte length of `body`, RFC 3261 §20.14) unless one of `headers` already has it.
 */
export function sipText(startLine: string, headers: readonly string[], body = ""): string {
  const hasLength = headers.some((h) => /^(content-length|l)\s*:/i.test(h));
  const lines = [startLine, ...headers, ...(hasLength ? [] : [`Content-Length: ${Buffer.byteLength(body, "utf8")}`])];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/** Random token for branch (prefix it with z9hG4bK), tag and Call-ID values. */
export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString("hex");
}

function normaliseCseq(value: string): string {
  return value.trim().split(/\s+/).join(" ").toUpperCase();
}

function key(target: UaTarget): string {
  return `${target.host}:${target.port}`;
}

function firstLine(message: string): string {
  const eol = message.indexOf("\r\n");
  return eol < 0 ? message : message.slice(0, eol);
}
