export { NatsClusterBus, ClusterBusError } from "./bus.js";
export type { NatsClusterBusOptions, NatsTlsOptions } from "./bus.js";
