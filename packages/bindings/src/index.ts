export { BindingStoreError, DEFAULT_KNOWN_FOR_MS, EDGE_DOWN_REASON, EDGE_RESTARTED_REASON } from "./types.js";
export type {
  Binding,
  BindingStore,
  BindingStoreOptions,
  ContactChange,
  FlowRef,
  RegisterOp,
  RegisterRejection,
  RegisterResult,
  UnreachableSelector,
} from "./types.js";
export { MemoryBindingStore } from "./memory-store.js";
export { CachedBindingStore } from "./cached-store.js";
export type { CachedBindingStoreOptions } from "./cached-store.js";
export { bindingFromChange, compareBindings, edgeRestartChange, isPureRefresh, liveBindings, planRegister, validateRegisterOp } from "./plan.js";
export type { RegisterPlan } from "./plan.js";
