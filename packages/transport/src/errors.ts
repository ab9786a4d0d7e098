export type TransportErrorCode = "unsupported-transport" | "bad-listen-address" | "address-in-use" | "bind-failed" | "bad-tls-credentials";

/** A listener could not be started. The message names the listen setting (`transport:host:port`). */
export class TransportError extends Error {
  override readonly name = "TransportError";
  readonly code: TransportErrorCode;
  /** "udp:0.0.0.0:5060" — the listen spec this error is about. */
  readonly listen: string;

  constructor(code: TransportErrorCode, listen: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.listen = listen;
  }
}
