/**
 * @edgepath/registrar — the registrar worker: RFC 3261 §10.3 registrar with Path (RFC 3327 §5.3)
 * and outbound (RFC 5626 §6) bindings, and the transaction-stateful location proxy (§16) that
 * forks to those bindings back through the edge holding each flow.
 */
export { RegistrarWorker } from "./worker.js";
export type { RegistrarWorkerOptions, RegistrarWorkerStats } from "./worker.js";
export { handleRegister, addressOfRecord, contactKey, SUPPORTED_OPTION_TAGS } from "./register.js";
export type { RegisterContext, RegisterOutcome, RegisterReply, RegisterStep, RegistrarSettings } from "./register.js";
export { LocationProxy, DEFAULT_TIMER_C_MS, groupByQ } from "./location-proxy.js";
export type { LocationProxyOptions, LocationProxyStats } from "./location-proxy.js";
