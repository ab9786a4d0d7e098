/**
 * @edgepath/auth — the trust boundary (DESIGN §6): SIP digest authentication with signed
 * nonces (RFC 3261 §22, RFC 8760), HA1 credential stores, trusted CIDRs with the edge's signed
 * source stamp, and the edge's admission limits (per-source token bucket, header/Via/Route depth).
 */
export { AuthError } from "./errors.js";
export type { AuthErrorCode } from "./errors.js";
export {
  OFFERED_ALGORITHMS,
  challengeValue,
  computeDigestResponse,
  computeHa1,
  digestHash,
  parseAlgorithm,
  parseNonceCount,
} from "./digest.js";
export type { DigestAlgorithm, DigestResponseInput } from "./digest.js";
export { NonceCodec } from "./nonce.js";
export type { NonceCheck, NonceCodecOptions } from "./nonce.js";
export { MemoryCredentialStore, credentialFor, credentialKeyOf } from "./credentials.js";
export type { Credential, CredentialStore, NonceCounter } from "./credentials.js";
export { RedisCredentialStore } from "./redis-credentials.js";
export type { RedisCredentialStoreOptions } from "./redis-credentials.js";
export { SOURCE_HEADER, SourceStamp, TrustedNetworks } from "./trusted.js";
export { SipAuthenticator } from "./authenticator.js";
export type { AuthDecision, AuthMode, AuthWhy, AuthenticatorStats, SipAuthenticatorOptions } from "./authenticator.js";
export { DEFAULT_MESSAGE_LIMITS, SourceRateLimiter, checkMessageLimits } from "./admission.js";
export type { LimitRejection, LimitedMessage, MessageLimits, RateDecision, RateLimitOptions } from "./admission.js";
