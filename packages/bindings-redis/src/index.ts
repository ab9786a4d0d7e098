export { RedisBindingStore, BindingStoreUnavailableError } from "./store.js";
export type { DatasetCheck, DatasetLost, RedisBindingStoreOptions } from "./store.js";
export { keyLayout, tagSafe } from "./keys.js";
export type { KeyLayout } from "./keys.js";
