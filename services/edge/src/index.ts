export { EdgeProxy } from "./edge-proxy.js";
export type { EdgeProxyOptions } from "./edge-proxy.js";
export { EdgeCounters } from "./counters.js";
export { decidePath, pathValue } from "./path.js";
export type { PathPolicy, PathDecision } from "./path.js";
export { recordRouteValues, shouldRecordRoute } from "./record-route.js";
export { parseHostPort, formatHostPort } from "./addresses.js";
export type { HostPort } from "./addresses.js";
