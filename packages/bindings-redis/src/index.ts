export { RedisBindingStore, BindingStoreUnavailableError } from "./store.js";
export type { RedisBindingStoreOptions } from "./store.js";
export { keyLayout, tagSafe } from "./keys.js";
export type { KeyLayout } from "./keys.js";
