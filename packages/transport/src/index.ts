export { TransportLayer } from "./transport-layer.js";
export type { TransportLayerOptions, TransportStats } from "./transport-layer.js";
export { TransportError } from "./errors.js";
export type { TransportErrorCode } from "./errors.js";
export { DEFAULT_LIMITS } from "./types.js";
export type {
  BoundListener,
  DropSource,
  FlowCloseReason,
  FlowInfo,
  FlowRef,
  ListenSpec,
  SendFailure,
  SendResult,
  SendTarget,
  TransportDelegate,
  TransportKind,
  TransportLimits,
  TlsReloadOutcome,
  TlsSettings,
} from "./types.js";
export { DEFAULT_TLS_RELOAD_MS } from "./tls-credentials.js";
export { SIP_WS_PROTOCOL } from "./ws-listener.js";
export {
  STUN_MAGIC_COOKIE,
  buildBindingSuccessResponse,
  isStunBindingRequest,
  readXorMappedAddress,
} from "./stun.js";
