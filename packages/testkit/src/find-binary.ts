import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { BinaryNotFoundError } from "./errors.js";

export type BinaryName = "redis-server" | "nats-server" | "sipp";

const cache = new Map<string, string | undefined>();

/**
 * Absolute path of an installed test binary: the first executable found on PATH, then
 * /usr/sbin and /usr/bin (Debian's nats-server lands in /usr/sbin, which is not always
 * on a non-root PATH). `undefined` when it is not installed.
 */
export function findBinary(name: BinaryName): string | undefined {
  if (cache.has(name)) return cache.get(name);
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== "");
  dirs.push("/usr/sbin", "/usr/bin", "/usr/local/bin");
  let found: string | undefined;
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // not here; keep looking
    }
  }
  cache.set(name, found);
  return found;
}

/** Like {@link findBinary} but throws {@link BinaryNotFoundError} with an install hint. */
export function requireBinary(name: BinaryName): string {
  const path = findBinary(name);
  if (path === undefined) throw new BinaryNotFoundError(name);
  return path;
}
