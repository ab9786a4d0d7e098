export { TestkitError, BinaryNotFoundError, ServerStartError, WaitTimeoutError } from "./errors.js";
export { findBinary, requireBinary } from "./find-binary.js";
export type { BinaryName } from "./find-binary.js";
export { freePort, freeSipPort } from "./free-port.js";
export { waitFor } from "./wait-for.js";
export type { WaitForOptions } from "./wait-for.js";
export { startRedis } from "./redis.js";
export type { RedisServer, StartRedisOptions, RestartOptions } from "./redis.js";
export { startNats } from "./nats.js";
export type { NatsServer, StartNatsOptions } from "./nats.js";
export { runSipp, countsFromStats, countsFromScreen } from "./sipp.js";
export type { RunSippOptions, SippResult, SippTransport, SippBuiltinScenario } from "./sipp.js";
export {
  TestUa,
  TestUaTimeoutError,
  frameStream,
  sipHeader,
  sipHeaders,
  sipStatus,
  sipMethod,
  sipBody,
  sipText,
  randomToken,
} from "./test-ua.js";
export type { TestUaTransport, UaTarget } from "./test-ua.js";
export { startSharedServers } from "./shared-servers.js";
export type { SharedServers } from "./shared-servers.js";
export { makeTestPki } from "./test-pki.js";
export type { TestPki } from "./test-pki.js";
