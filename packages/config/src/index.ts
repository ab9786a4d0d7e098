export { ConfigError, describeSettings, flagFor, loadConfig, loadConfigOrThrow } from "./config.js";
export type { EdgepathConfig, InternalTransport, LoadConfigHost, LoadConfigResult, LogLevel, NatsConfig, RedisConfig, Role } from "./config.js";
export { formatHostPort, parseHostPort, parseListenList, parsePublicAdvertise } from "./parse.js";
export type { HostPort, ListenSpec, Parsed, PublicAdvertise, SipTransport } from "./parse.js";
