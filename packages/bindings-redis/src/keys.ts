/**
 * Redis key layout (DESIGN §4). Everything of one AOR shares the hash tag `{aor}`, so
 * the per-AOR Lua scripts touch a single hash slot and run unchanged on Redis Cluster:
 *
 *   {prefix}{AOR}:b      HASH  "b:<key>" -> binding JSON, "r:<key>" -> reachability JSON
 *   {prefix}{AOR}:m      HASH  "until" -> epoch ms the AOR last had a binding (480 vs 404)
 *   {prefix}flow:{TOKEN} SET   AORs with a binding through that flow token   (hint)
 *   {prefix}edge:{EDGE}  SET   AORs with a binding whose Path starts at EDGE (hint)
 *   {prefix}expiry       ZSET  AOR -> its next binding expiry, for the background sweep
 *   {prefix}dataset      STRING a random id set once (SET NX): when it is missing or different
 *                        later, Redis lost what it held (RedisBindingStore.checkDataset)
 *
 * The index keys live in other slots than the AOR keys; see RedisBindingStore for why
 * updating them outside the atomic script is safe.
 */
export interface KeyLayout {
  bindings(aor: string): string;
  meta(aor: string): string;
  flow(flowToken: string): string;
  edge(edge: string): string;
  readonly expiry: string;
  readonly dataset: string;
}

/**
 * Redis takes the hash tag from the first `{` to the first `}` after it, so a brace
 * inside the AOR would cut the tag short and scatter one AOR over slots. Braces are
 * not legal unescaped in a SIP URI (RFC 3261 §25.1), but input is input: escape them
 * the way a URI would.
 */
export function tagSafe(s: string): string {
  return s.includes("{") || s.includes("}") || s.includes("%") ? s.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : s;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    bindings: (aor) => `${prefix}{${tagSafe(aor)}}:b`,
    meta: (aor) => `${prefix}{${tagSafe(aor)}}:m`,
    flow: (token) => `${prefix}flow:{${tagSafe(token)}}`,
    edge: (edge) => `${prefix}edge:{${tagSafe(edge)}}`,
    expiry: `${prefix}expiry`,
    dataset: `${prefix}dataset`,
  };
}
