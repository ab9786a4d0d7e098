/**
 * Typed failures of the auth package (CONVENTIONS §8). On the request path the authenticator
 * returns results instead of throwing; these are for set-up and store errors.
 */
export type AuthErrorCode = "bad-config" | "bad-credential" | "store-unavailable";

export class AuthError extends Error {
  override readonly name = "AuthError";
  readonly code: AuthErrorCode;
  /** 503 when the credential store is unreachable (the request can be retried), else 500. */
  readonly sipStatus: number;
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.sipStatus = code === "store-unavailable" ? 503 : 500;
  }
}
