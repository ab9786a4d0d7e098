export { AorRing } from "./ring.js";
export type { AorRingOptions, RingMember } from "./ring.js";
