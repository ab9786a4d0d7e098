export { runAll, aorView, ringFromMembership } from "./compose.js";
export type { RunningSystem } from "./compose.js";
export { AdminServer } from "./admin-http.js";
export type { AdminProviders, Readiness } from "./admin-http.js";
