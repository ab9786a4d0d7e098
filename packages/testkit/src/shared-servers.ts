import { startNats, type NatsServer, type StartNatsOptions } from "./nats.js";
import { startRedis, type RedisServer, type StartRedisOptions } from "./redis.js";

export interface SharedServers extends AsyncDisposable {
  readonly redis?: RedisServer;
  readonly nats?: NatsServer;
  /** What a vitest `globalSetup` hands to test files with `provide()`. */
  readonly urls: { readonly redisUrl?: string; readonly natsUrl?: string };
  stop(): Promise<void>;
}

/**
 * Starts the servers a whole suite shares, for a vitest `globalSetup` file
 * (CONVENTIONS: share servers through globalSetup + provide/inject):
 *
 * ```ts
 * export default async function ({ provide }: TestProject) {
 *   const servers = await startSharedServers({ redis: true, nats: true });
 *   provide("redisUrl", servers.urls.redisUrl!);
 *   provide("natsUrl", servers.urls.natsUrl!);
 *   return () => servers.stop();
 * }
 * ```
 * Starts both in parallel; if one fails the other is stopped before rethrowing.
 */
export async function startSharedServers(opts: {
  readonly redis?: boolean | StartRedisOptions;
  readonly nats?: boolean | StartNatsOptions;
}): Promise<SharedServers> {
  const [redisResult, natsResult] = await Promise.allSettled([
    opts.redis === undefined || opts.redis === false ? Promise.resolve(undefined) : startRedis(opts.redis === true ? {} : opts.redis),
    opts.nats === undefined || opts.nats === false ? Promise.resolve(undefined) : startNats(opts.nats === true ? {} : opts.nats),
  ]);
  const redis = redisResult.status === "fulfilled" ? redisResult.value : undefined;
  const nats = natsResult.status === "fulfilled" ? natsResult.value : undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([redis?.stop(), nats?.stop()]);
  };
  if (redisResult.status === "rejected" || natsResult.status === "rejected") {
    await stop();
    throw redisResult.status === "rejected" ? redisResult.reason : (natsResult as PromiseRejectedResult).reason;
  }
  return {
    ...(redis !== undefined ? { redis } : {}),
    ...(nats !== undefined ? { nats } : {}),
    urls: { ...(redis !== undefined ? { redisUrl: redis.url } : {}), ...(nats !== undefined ? { natsUrl: nats.url } : {}) },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
