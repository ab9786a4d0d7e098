/**
 * One validated configuration for every role (CONVENTIONS §9, DESIGN §5).
 *
 * Read once at the entry point from the environment and command-line flags; flags
 * mirror env names (`EDGEPATH_SIP_LISTEN` <-> `--sip-listen`, `REDIS_URL` <->
 * `--redis-url`) and win over env. Readers trim and treat blank as unset. One zod
 * schema, built for the role, validates everything; every error names the setting
 * (`EDGEPATH_SIP_LISTEN: ...`) so a bad value exits with a useful line. Packages
 * never read `process.env`; services pass the parsed config down.
 */
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { hostname as osHostname, networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { z } from "zod";
import {
  formatHostPort,
  isWildcardHost,
  parseBool,
  parseDomainAliases,
  parseDomains,
  parseHostPort,
  parseInteger,
  parseListenList,
  parsePublicAdvertise,
  parseUrl,
} from "./parse.js";
import type { HostPort, ListenSpec, Parsed, PublicAdvertise } from "./parse.js";

export type Role = "all" | "edge" | "registrar";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
/** The edge <-> worker hop. Only UDP is implemented (see the setting's help). */
export type InternalTransport = "udp";

export interface RedisConfig {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** TLS to Redis; true for `rediss://` URLs or REDIS_TLS=true. */
  readonly tls: boolean;
}

export interface NatsConfig {
  /** Server URLs, e.g. ["nats://nats-0:4222", "nats://nats-1:4222"]. */
  readonly servers: readonly string[];
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** Path to a NATS credentials (JWT + nkey) file; read by the NATS client, not here. */
  readonly credsFile?: string;
  readonly tls: boolean;
}

export interface EdgepathConfig {
  readonly role: Role;
  readonly nodeId: string;
  readonly logLevel: LogLevel;
  readonly sip: {
    /** Public listeners, parsed from EDGEPATH_SIP_LISTEN. */
    readonly listen: readonly ListenSpec[];
    /** Internal SIP address (edge <-> worker hops). Port 0 = OS-assigned. */
    readonly internalListen: HostPort;
    /**
     * Address other processes use to reach `internalListen`. Absent only in
     * all-mode with an OS-assigned port, where the service advertises what it bound.
     * A port of 0 means "the port internalListen was bound to".
     */
    readonly advertise?: HostPort;
    /**
     * EDGEPATH_PUBLIC_ADVERTISE: host[:port] the edge puts in its own Via sent-by and public-side
     * Record-Route when clients reach it through NAT or a load balancer (Kamailio's `advertise`).
     * Absent = the listener's address.
     */
    readonly publicAdvertise?: readonly PublicAdvertise[];
    readonly internalTransport: InternalTransport;
    /** PEM files for tls/wss listeners (present when one is configured), re-read every `reloadIntervalMs` (0 = never). */
    readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string; readonly reloadIntervalMs: number };
  };
  /** Cluster membership timing (DESIGN §4: heartbeats with TTL). */
  readonly cluster: {
    /** Heartbeat interval of every edge and worker, ms. */
    readonly heartbeatMs: number;
    /** A member whose last heartbeat is older than this leaves the ring / is declared down, ms. */
    readonly memberTtlMs: number;
  };
  /** DESIGN §3 "registered is not reachable": OPTIONS pinging of UDP contacts at the edge. */
  readonly reachability: {
    /** Ping every UDP flow with a registered contact this often, ms; 0 = off (the default). */
    readonly udpPingIntervalMs: number;
    /** A UDP flow that answered none of our OPTIONS for this long is unreachable, ms. */
    readonly udpPingTimeoutMs: number;
  };
  readonly httpListen: HostPort;
  /** Local SIP domains, lower-case (RFC 3261 §10.3 step 1). */
  readonly domains: readonly string[];
  /**
   * EDGEPATH_DOMAIN_ALIASES: other host names and addresses (lower-case, IPv6 unbracketed) that
   * name a served domain in a Request-URI or To URI, each with the domain it names.
   */
  readonly domainAliases: ReadonlyMap<string, string>;
  /** Cluster secret: flow-token HMAC and digest nonces. */
  readonly secret: string;
  /** Registrar worker count in all-mode. */
  readonly workers: number;
  /** Absent = embedded in-memory store (all-mode only). */
  readonly redis?: RedisConfig;
  /** Absent = in-process bus (all-mode only). */
  readonly nats?: NatsConfig;
  readonly registrar: {
    /** Expiry granted when the REGISTER has none (RFC 3261 §10.2.1.1), seconds. */
    readonly defaultExpires: number;
    /** Below this a REGISTER gets 423 Interval Too Brief (RFC 3261 §10.3 step 7). */
    readonly minExpires: number;
    /** Requested expiries above this are shortened to it (RFC 3261 §10.3 step 7). */
    readonly maxExpires: number;
    /** Bindings per AOR; more gets 403. */
    readonly maxContacts: number;
    /** Overload control: an initial request that queued longer than this between edge and worker gets 500 + Retry-After, ms; 0 = off. */
    readonly overloadQueueDelayMs: number;
  };
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly tcpIdleTimeoutMs: number;
    /** A stream message whose first byte arrived must be complete within this (slowloris, DESIGN §6), ms. */
    readonly headerReadTimeoutMs: number;
    readonly maxConnections: number;
    readonly maxConnectionsPerIp: number;
    /**
     * Origins (scheme://host[:port]) a browser may open WS/WSS connections from; empty = any.
     * An upgrade without an Origin header (a native SIP client) is not a browser and is allowed.
     */
    readonly wsAllowedOrigins: readonly string[];
    /** Requests per second per source address at the edge; 0 = no limit (token bucket). */
    readonly ratePerSec: number;
    /** Token bucket size (burst). */
    readonly rateBurst: number;
    /** Over the rate: answer 503 + Retry-After, or drop silently. */
    readonly rateAction: "reply" | "drop";
    readonly maxHeaders: number;
    readonly maxVia: number;
    readonly maxRoute: number;
  };
  /** Digest authentication and the trust boundary (DESIGN §6). */
  readonly auth: {
    readonly mode: "required" | "off";
    /** Fixed realm; absent = each AOR's domain. */
    readonly realm?: string;
    readonly nonceTtlSec: number;
    /** Sources that skip auth (trunks, peers), CIDR strings as given. */
    readonly trustedCidrs: readonly string[];
  };
}

export type LoadConfigResult =
  | { readonly ok: true; readonly config: EdgepathConfig; readonly warnings: string[] }
  | { readonly ok: false; readonly errors: string[] };

/** Thrown by `loadConfigOrThrow`; `errors` holds one line per bad setting. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "invalid-config";
  readonly errors: readonly string[];
  constructor(errors: readonly string[]) {
    super(`invalid configuration:\n  ${errors.join("\n  ")}`);
    this.errors = errors;
  }
}

/** What the host provides; injectable for tests. */
export interface LoadConfigHost {
  readonly hostname?: string;
  readonly pid?: number;
  readonly randomSecret?: () => string;
  /** The host's interface addresses (os.networkInterfaces() by default). */
  readonly interfaces?: () => NodeJS.Dict<readonly NetworkInterfaceInfo[]>;
}

// ---------------------------------------------------------------------------
// The settings table: the one place a setting's name, default and help live.

interface SettingDef {
  readonly name: string;
  readonly help: string;
  /** Default per role (undefined = none / required / computed). */
  readonly default?: string | ((role: Role) => string | undefined);
  /** Shown in describeSettings() when the default is computed. */
  readonly defaultText?: string;
}

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

const SETTINGS = [
  {
    name: "EDGEPATH_SIP_LISTEN",
    default: "0.0.0.0:5060",
    help: "Public SIP listeners: comma list of [transport:]host:port, transport udp|tcp|tls|ws|wss; none = udp and tcp. IPv6 as [::]:5060.",
  },
  {
    name: "EDGEPATH_INTERNAL_LISTEN",
    default: (role: Role) => (role === "all" ? "127.0.0.1:0" : undefined),
    defaultText: "127.0.0.1:0 in all-mode, required otherwise",
    help: "host:port of this process's internal SIP socket (edge <-> registrar hops).",
  },
  {
    name: "EDGEPATH_ADVERTISE",
    defaultText: "EDGEPATH_INTERNAL_LISTEN unless it is a wildcard address",
    help: "host:port other processes use to reach the internal SIP socket (e.g. the pod IP).",
  },
  {
    name: "EDGEPATH_PUBLIC_ADVERTISE",
    defaultText: "the listener's address; for a wildcard UDP listener the host's first external interface address (with a warning)",
    help:
      "Address clients reach the edge at when it sits behind NAT or a load balancer: [transport:]host[:port], comma list, used in the edge's own Via sent-by and public-side Record-Route (Kamailio's advertise). No transport = every listener; no port = the listener's port.",
  },
  {
    name: "EDGEPATH_INTERNAL_TRANSPORT",
    default: "udp",
    help: "Transport between edges and registrars. Only udp is implemented: the internal hop is a pod or loopback network, where messages above the path MTU travel as fragmented datagrams (RFC 3261 §18.1.1's switch to TCP is not done yet).",
  },
  {
    name: "EDGEPATH_TLS_CERT",
    help: "PEM certificate chain file for tls/wss listeners (required when one is configured).",
  },
  { name: "EDGEPATH_TLS_KEY", help: "PEM private key file for tls/wss listeners." },
  {
    name: "EDGEPATH_TLS_CA",
    defaultText: "Node's bundled root CAs",
    help: "PEM CA bundle that verifies the certificates of TLS servers the edge connects to (sips: trunks). Certificate files are re-read when they change.",
  },
  {
    name: "EDGEPATH_TLS_RELOAD_MS",
    default: "10000",
    help: "How often the TLS certificate, key and CA files are checked for change and reloaded, ms; 0 = never.",
  },
  {
    name: "EDGEPATH_HTTP_LISTEN",
    default: (role: Role) => (role === "all" ? "127.0.0.1:8080" : "0.0.0.0:8080"),
    defaultText: "127.0.0.1:8080 in all-mode, 0.0.0.0:8080 otherwise",
    help: "host:port for /healthz, /readyz, /metrics and the admin API.",
  },
  {
    name: "EDGEPATH_DOMAINS",
    default: "localhost",
    help: "Comma list of SIP domains this cluster is responsible for (lower-cased).",
  },
  {
    name: "EDGEPATH_DOMAIN_ALIASES",
    help: "Comma list of alias=domain: host names or addresses (e.g. the edge's public IP, which trunks and IP-configured phones put in Request-URIs) that mean one of EDGEPATH_DOMAINS (Kamailio's alias); sip:u@alias is the AOR sip:u@domain.",
  },
  {
    name: "EDGEPATH_SECRET",
    defaultText: "random per process in all-mode, required otherwise",
    help: "Cluster secret (>= 16 chars) signing flow tokens and digest nonces; the same on every node.",
  },
  { name: "EDGEPATH_WORKERS", default: "2", help: "Registrar workers in all-mode (1..64)." },
  { name: "EDGEPATH_NODE_ID", defaultText: "hostname-pid", help: "This process's id in the cluster." },
  { name: "EDGEPATH_LOG_LEVEL", default: "info", help: `Log level: ${LOG_LEVELS.join(", ")}.` },
  {
    name: "REDIS_URL",
    defaultText: "embedded store in all-mode; required for registrar",
    help: "redis:// or rediss:// URL of the binding store.",
  },
  { name: "REDIS_USERNAME", help: "Redis ACL user name." },
  { name: "REDIS_PASSWORD", help: "Redis password." },
  { name: "REDIS_TLS", default: "false", help: "Use TLS to Redis (implied by rediss://)." },
  {
    name: "NATS_URL",
    defaultText: "in-process bus in all-mode; required for edge and registrar",
    help: "Comma list of NATS server URLs (nats://, tls://, ws://, wss://).",
  },
  { name: "NATS_USER", help: "NATS user (with NATS_PASSWORD)." },
  { name: "NATS_PASSWORD", help: "NATS password." },
  { name: "NATS_TOKEN", help: "NATS token (instead of user/password)." },
  { name: "NATS_CREDS", help: "Path to a NATS .creds file." },
  { name: "NATS_TLS", default: "false", help: "Require TLS to NATS." },
  { name: "EDGEPATH_DEFAULT_EXPIRES", default: "3600", help: "Registration expiry when the UA asks for none, seconds (RFC 3261 §10.2.1.1)." },
  { name: "EDGEPATH_MIN_EXPIRES", default: "60", help: "Shorter registrations get 423 with Min-Expires (RFC 3261 §10.3), seconds." },
  { name: "EDGEPATH_MAX_EXPIRES", default: "7200", help: "Longer registrations are shortened to this, seconds." },
  { name: "EDGEPATH_MAX_CONTACTS", default: "10", help: "Maximum bindings per AOR (403 beyond)." },
  {
    name: "EDGEPATH_OVERLOAD_QUEUE_DELAY_MS",
    default: "200",
    help: "Registrar overload control: a new request (no To tag) that queued longer than this between the edge's send and the worker's read (socket buffers, event loop; from the edge's monotonic timestamp against the smallest delay seen from that edge process in 5 minutes, so a constant clock offset does not count) is answered 500 + Retry-After at once (RFC 3261 §16.7 step 6: not 503, which would make a client stop using the whole edge), ms; 0 = off, else 20..10000.",
  },
  { name: "EDGEPATH_MAX_MESSAGE_BYTES", default: "65535", help: "Largest SIP message accepted (513 / drop beyond)." },
  {
    name: "EDGEPATH_TCP_IDLE_TIMEOUT_MS",
    default: "300000",
    help: "Close TCP/TLS/WS connections idle this long, ms. Keep above the RFC 5626 §4.4.1 keep-alive interval (up to 120 s).",
  },
  {
    name: "EDGEPATH_HEADER_TIMEOUT_MS",
    default: "10000",
    help: "A TCP/TLS/WS message whose first byte arrived must be complete within this (slowloris defence), ms.",
  },
  { name: "EDGEPATH_MAX_CONNECTIONS", default: "10000", help: "Maximum concurrent stream connections per edge." },
  { name: "EDGEPATH_MAX_CONNECTIONS_PER_IP", default: "100", help: "Maximum concurrent stream connections from one IP." },
  {
    name: "EDGEPATH_WS_ALLOWED_ORIGINS",
    defaultText: "any",
    help: "Comma list of origins (https://app.example.com) browsers may open WS/WSS from; others get 403 (cross-site WebSocket hijacking). Upgrades without Origin (native clients) are allowed.",
  },
  {
    name: "EDGEPATH_AUTH",
    default: (role: Role) => (role === "all" ? "off" : "required"),
    defaultText: "off in all-mode (with a warning), required otherwise",
    help: "Digest authentication (RFC 3261 §22, RFC 8760) of REGISTER (401) and of requests from untrusted sources (407): required or off.",
  },
  { name: "EDGEPATH_AUTH_REALM", defaultText: "the AOR's domain", help: "Digest realm for every user instead of each AOR's domain." },
  { name: "EDGEPATH_NONCE_TTL", default: "300", help: "Digest nonce lifetime, seconds; older nonces get stale=true." },
  {
    name: "EDGEPATH_TRUSTED_CIDRS",
    defaultText: "none",
    help: "Comma list of CIDRs (or addresses) of trusted peers (trunks, proxies) that skip digest auth.",
  },
  { name: "EDGEPATH_RATE_LIMIT", default: "0", help: "Requests per second per source address at the edge (token bucket); 0 = unlimited." },
  { name: "EDGEPATH_RATE_BURST", defaultText: "2 x EDGEPATH_RATE_LIMIT", help: "Token bucket size: requests a source may send in a burst." },
  { name: "EDGEPATH_RATE_LIMIT_ACTION", default: "reply", help: "Over the rate: reply (503 with Retry-After) or drop (silently)." },
  { name: "EDGEPATH_MAX_HEADERS", default: "128", help: "Header lines per message; more gets 400." },
  { name: "EDGEPATH_MAX_VIA", default: "32", help: "Via entries per request; more gets 483." },
  { name: "EDGEPATH_MAX_ROUTE", default: "32", help: "Route entries per request; more gets 400." },
  { name: "EDGEPATH_HEARTBEAT_MS", default: "1000", help: "Cluster membership heartbeat interval of edges and workers, ms." },
  {
    name: "EDGEPATH_MEMBER_TTL_MS",
    default: "3000",
    help: "A worker or edge silent this long leaves the ring / is declared down, ms; at least 2 x EDGEPATH_HEARTBEAT_MS. Use the same value on every node.",
  },
  {
    name: "EDGEPATH_UDP_PING_INTERVAL_MS",
    default: "0",
    help: "Edge: send OPTIONS (RFC 3261 §11) over every UDP flow with a registered contact this often, ms (Kamailio nathelper's sipping); 0 = off, else 100..3600000.",
  },
  {
    name: "EDGEPATH_UDP_PING_TIMEOUT_MS",
    defaultText: "3 x EDGEPATH_UDP_PING_INTERVAL_MS",
    help: "Edge: a UDP flow that answered none of the OPTIONS pings for this long is reported failed (ping-timeout) and its bindings become unreachable, ms; more than EDGEPATH_UDP_PING_INTERVAL_MS.",
  },
] as const satisfies readonly SettingDef[];

type SettingName = (typeof SETTINGS)[number]["name"];
type Raw = Partial<Record<SettingName, string>>;

const SETTING_NAMES: ReadonlySet<string> = new Set(SETTINGS.map((s) => s.name));

/** `EDGEPATH_SIP_LISTEN` -> `--sip-listen`, `REDIS_URL` -> `--redis-url`. */
export function flagFor(name: string): string {
  return `--${name.replace(/^EDGEPATH_/, "").toLowerCase().replace(/_/g, "-")}`;
}

const FLAG_TO_NAME: ReadonlyMap<string, SettingName> = new Map(SETTINGS.map((s) => [flagFor(s.name), s.name]));

function defaultFor(def: SettingDef, role: Role): string | undefined {
  return typeof def.default === "function" ? def.default(role) : def.default;
}

/** Every setting with its default and help, for the README and `--help`. */
export function describeSettings(): { name: string; flag: string; default?: string; help: string }[] {
  return SETTINGS.map((s: SettingDef) => {
    const d = s.defaultText ?? (typeof s.default === "string" ? s.default : undefined);
    return d === undefined ? { name: s.name, flag: flagFor(s.name), help: s.help } : { name: s.name, flag: flagFor(s.name), default: d, help: s.help };
  });
}

// ---------------------------------------------------------------------------
// Schema pieces.

function fromParsed<T>(parse: (s: string) => Parsed<T>) {
  return (v: string, ctx: z.RefinementCtx): T => {
    const r = parse(v);
    if (!r.ok) {
      ctx.addIssue(r.message);
      return z.NEVER;
    }
    return r.value;
  };
}

const int = (min: number, max: number) => fromParsed((s) => parseInteger(s, min, max));
const bool = fromParsed(parseBool);
const hostPort = (allowZero: boolean) => fromParsed((s) => parseHostPort(s, allowZero));

function makeSchema(role: Role, warnings: string[]) {
  // Defaults are filled in (and required settings checked) before the schema runs,
  // so a setting that always has a value is a plain z.string() here.
  const req = z.string();
  const opt = z.string().optional();
  return z
    .object({
      EDGEPATH_SIP_LISTEN: req.transform(fromParsed(parseListenList)),
      EDGEPATH_INTERNAL_LISTEN: req.transform(hostPort(true)),
      EDGEPATH_ADVERTISE: opt.transform((v, ctx) => {
        if (v === undefined) return undefined;
        const r = parseHostPort(v, false);
        if (r.ok && isWildcardHost(r.value.host)) {
          ctx.addIssue(`${v} is a wildcard address; advertise one that others can reach`);
          return z.NEVER;
        }
        return fromParsed(() => r)(v, ctx);
      }),
      EDGEPATH_PUBLIC_ADVERTISE: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed(parsePublicAdvertise)(v, ctx))),
      EDGEPATH_INTERNAL_TRANSPORT: req.pipe(
        z.enum(["udp"], {
          error: (iss) => (iss.input === "tcp" ? "tcp is not implemented yet for the internal hop; use udp" : `"${String(iss.input)}" is not udp`),
        }),
      ),
      EDGEPATH_TLS_CERT: opt,
      EDGEPATH_TLS_KEY: opt,
      EDGEPATH_TLS_CA: opt,
      EDGEPATH_TLS_RELOAD_MS: req.transform(int(0, 24 * 3600 * 1000)),
      EDGEPATH_HTTP_LISTEN: req.transform(hostPort(true)),
      EDGEPATH_DOMAINS: req.transform(fromParsed(parseDomains)),
      EDGEPATH_DOMAIN_ALIASES: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed(parseDomainAliases)(v, ctx))),
      EDGEPATH_SECRET: opt.refine((v) => v === undefined || v.length >= 16, { error: "must be at least 16 characters" }),
      EDGEPATH_WORKERS: req.transform(int(1, 64)),
      EDGEPATH_NODE_ID: opt.refine((v) => v === undefined || /^[A-Za-z0-9._:-]{1,128}$/.test(v), {
        error: "must be 1..128 chars of letters, digits, '.', '_', ':' or '-'",
      }),
      EDGEPATH_LOG_LEVEL: req.pipe(
        z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]], {
          error: (iss) => `"${String(iss.input)}" is not one of ${LOG_LEVELS.join(", ")}`,
        }),
      ),
      REDIS_URL: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed((s) => parseUrl(s, ["redis", "rediss"]))(v, ctx))),
      REDIS_USERNAME: opt,
      REDIS_PASSWORD: opt,
      REDIS_TLS: req.transform(bool),
      NATS_URL: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed(parseNatsServers)(v, ctx))),
      NATS_USER: opt,
      NATS_PASSWORD: opt,
      NATS_TOKEN: opt,
      NATS_CREDS: opt,
      NATS_TLS: req.transform(bool),
      EDGEPATH_DEFAULT_EXPIRES: req.transform(int(1, 2 ** 31 - 1)),
      EDGEPATH_MIN_EXPIRES: req.transform(int(1, 2 ** 31 - 1)),
      EDGEPATH_MAX_EXPIRES: req.transform(int(1, 2 ** 31 - 1)),
      EDGEPATH_MAX_CONTACTS: req.transform(int(1, 1000)),
      EDGEPATH_OVERLOAD_QUEUE_DELAY_MS: req.transform(int(0, 10_000)).refine((v) => v === 0 || v >= 20, { error: "must be 0 (off) or 20..10000 ms" }),
      // Below 1500 not even a typical INVITE fits; above 16 MiB is a memory hazard.
      EDGEPATH_MAX_MESSAGE_BYTES: req.transform(int(1500, 16 * 1024 * 1024)),
      EDGEPATH_TCP_IDLE_TIMEOUT_MS: req.transform(int(1000, 24 * 3600 * 1000)),
      EDGEPATH_HEADER_TIMEOUT_MS: req.transform(int(100, 3600 * 1000)),
      EDGEPATH_MAX_CONNECTIONS: req.transform(int(1, 1_000_000)),
      EDGEPATH_MAX_CONNECTIONS_PER_IP: req.transform(int(1, 1_000_000)),
      EDGEPATH_WS_ALLOWED_ORIGINS: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed(parseOriginList)(v, ctx))),
      EDGEPATH_AUTH: req.pipe(z.enum(["required", "off"], { error: (iss) => `"${String(iss.input)}" is not required or off` })),
      EDGEPATH_AUTH_REALM: opt.refine((v) => v === undefined || (/^[\x21-\x7e]{1,255}$/.test(v) && !/["\\]/.test(v)), {
        error: "must be 1..255 visible characters without quotes or backslashes",
      }),
      EDGEPATH_NONCE_TTL: req.transform(int(5, 86_400)),
      EDGEPATH_TRUSTED_CIDRS: opt.transform((v, ctx) => (v === undefined ? undefined : fromParsed(parseCidrList)(v, ctx))),
      EDGEPATH_RATE_LIMIT: req.transform(int(0, 1_000_000)),
      EDGEPATH_RATE_BURST: opt.transform((v, ctx) => (v === undefined ? undefined : int(1, 10_000_000)(v, ctx))),
      EDGEPATH_RATE_LIMIT_ACTION: req.pipe(z.enum(["reply", "drop"], { error: (iss) => `"${String(iss.input)}" is not reply or drop` })),
      EDGEPATH_MAX_HEADERS: req.transform(int(16, 10_000)),
      EDGEPATH_MAX_VIA: req.transform(int(2, 1000)),
      EDGEPATH_MAX_ROUTE: req.transform(int(1, 1000)),
      EDGEPATH_HEARTBEAT_MS: req.transform(int(50, 60_000)),
      EDGEPATH_MEMBER_TTL_MS: req.transform(int(100, 600_000)),
      EDGEPATH_UDP_PING_INTERVAL_MS: req.transform(int(0, 3_600_000)),
      EDGEPATH_UDP_PING_TIMEOUT_MS: opt.transform((v, ctx) => (v === undefined ? undefined : int(100, 24 * 3_600_000)(v, ctx))),
    })
    .superRefine((c, ctx) => {
      const issue = (name: SettingName, message: string): void => ctx.addIssue({ code: "custom", path: [name], message });
      const min = c.EDGEPATH_MIN_EXPIRES;
      const def = c.EDGEPATH_DEFAULT_EXPIRES;
      const max = c.EDGEPATH_MAX_EXPIRES;
      if (min > max) {
        issue("EDGEPATH_MIN_EXPIRES", `${min} is greater than EDGEPATH_MAX_EXPIRES (${max})`);
      }
      if (def < min) {
        issue("EDGEPATH_DEFAULT_EXPIRES", `${def} is less than EDGEPATH_MIN_EXPIRES (${min})`);
      }
      if (def > max) {
        issue("EDGEPATH_DEFAULT_EXPIRES", `${def} is greater than EDGEPATH_MAX_EXPIRES (${max})`);
      }
      for (const [alias, domain] of c.EDGEPATH_DOMAIN_ALIASES ?? []) {
        if (!c.EDGEPATH_DOMAINS.includes(domain)) issue("EDGEPATH_DOMAIN_ALIASES", `${alias}=${domain}: ${domain} is not in EDGEPATH_DOMAINS`);
        else if (c.EDGEPATH_DOMAINS.includes(alias)) issue("EDGEPATH_DOMAIN_ALIASES", `${alias} is itself in EDGEPATH_DOMAINS`);
      }
      const il = c.EDGEPATH_INTERNAL_LISTEN;
      if (role !== "all" && c.EDGEPATH_ADVERTISE === undefined && isWildcardHost(il.host)) {
        issue("EDGEPATH_ADVERTISE", `required when EDGEPATH_INTERNAL_LISTEN is a wildcard address (${formatHostPort(il)})`);
      }
      // The edge tells its internal side from its public side by address (Via, Record-Route, the
      // side a response must arrive on): the two must not share one.
      const internalAt = c.EDGEPATH_ADVERTISE ?? il;
      // Port 0 is an ephemeral port the OS picks: never the same as another socket's.
      const clash = (host: string, port: number): boolean => port !== 0 && host.toLowerCase() === internalAt.host.toLowerCase() && port === internalAt.port;
      for (const l of c.EDGEPATH_SIP_LISTEN) {
        if (clash(l.host, l.port)) issue("EDGEPATH_ADVERTISE", `${formatHostPort(internalAt)} is also a public listener (EDGEPATH_SIP_LISTEN ${l.transport}:${formatHostPort(l)}); the internal address must be its own`);
      }
      for (const a of c.EDGEPATH_PUBLIC_ADVERTISE ?? []) {
        const ports = a.port !== undefined ? [a.port] : c.EDGEPATH_SIP_LISTEN.filter((l) => a.transport === undefined || l.transport === a.transport).map((l) => l.port);
        if (ports.some((port) => clash(a.host, port))) issue("EDGEPATH_ADVERTISE", `${formatHostPort(internalAt)} is also a public address (EDGEPATH_PUBLIC_ADVERTISE); the internal address must be its own`);
      }
      // One lost heartbeat (a GC pause, a NATS reconnect) must not drop a member from the ring.
      if (c.EDGEPATH_MEMBER_TTL_MS < 2 * c.EDGEPATH_HEARTBEAT_MS) {
        issue("EDGEPATH_MEMBER_TTL_MS", `${c.EDGEPATH_MEMBER_TTL_MS} is less than 2 x EDGEPATH_HEARTBEAT_MS (${2 * c.EDGEPATH_HEARTBEAT_MS})`);
      }
      const ping = c.EDGEPATH_UDP_PING_INTERVAL_MS;
      if (ping !== 0 && ping < 100) issue("EDGEPATH_UDP_PING_INTERVAL_MS", `${ping} is out of range (0 = off, or 100..3600000)`);
      // Liveness is checked once per interval: a timeout not above it would fail a flow before its next ping is due.
      const pingTimeout = c.EDGEPATH_UDP_PING_TIMEOUT_MS;
      if (ping !== 0 && pingTimeout !== undefined && pingTimeout <= ping) {
        issue("EDGEPATH_UDP_PING_TIMEOUT_MS", `${pingTimeout} is not more than EDGEPATH_UDP_PING_INTERVAL_MS (${ping})`);
      }
      for (const a of c.EDGEPATH_PUBLIC_ADVERTISE ?? []) {
        if (a.transport !== undefined && !c.EDGEPATH_SIP_LISTEN.some((l) => l.transport === a.transport)) {
          issue("EDGEPATH_PUBLIC_ADVERTISE", `${a.transport}: no ${a.transport} listener in EDGEPATH_SIP_LISTEN`);
        }
      }
      const needsTls = c.EDGEPATH_SIP_LISTEN.some((l) => l.transport === "tls" || l.transport === "wss");
      if (needsTls && (role === "all" || role === "edge")) {
        if (c.EDGEPATH_TLS_CERT === undefined) issue("EDGEPATH_TLS_CERT", "required for tls/wss listeners in EDGEPATH_SIP_LISTEN");
        if (c.EDGEPATH_TLS_KEY === undefined) issue("EDGEPATH_TLS_KEY", "required for tls/wss listeners in EDGEPATH_SIP_LISTEN");
      }
      if ((c.EDGEPATH_TLS_CERT === undefined) !== (c.EDGEPATH_TLS_KEY === undefined)) {
        const missing = c.EDGEPATH_TLS_CERT === undefined ? "EDGEPATH_TLS_CERT" : "EDGEPATH_TLS_KEY";
        if (!needsTls) issue(missing, "EDGEPATH_TLS_CERT and EDGEPATH_TLS_KEY go together");
      }
      if (c.NATS_TOKEN !== undefined && (c.NATS_USER !== undefined || c.NATS_CREDS !== undefined)) {
        issue("NATS_TOKEN", "use one of NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS");
      }
      if (c.NATS_USER !== undefined && c.NATS_CREDS !== undefined) {
        issue("NATS_USER", "use one of NATS_USER/NATS_PASSWORD or NATS_CREDS");
      }
      if ((c.NATS_USER === undefined) !== (c.NATS_PASSWORD === undefined)) {
        issue(c.NATS_USER === undefined ? "NATS_USER" : "NATS_PASSWORD", "NATS_USER and NATS_PASSWORD go together");
      }
      if (c.REDIS_URL === undefined) {
        for (const n of ["REDIS_USERNAME", "REDIS_PASSWORD"] as const) {
          if (c[n] !== undefined) warnings.push(`${n}: ignored without REDIS_URL`);
        }
      }
      if (c.NATS_URL === undefined) {
        for (const n of ["NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_CREDS"] as const) {
          if (c[n] !== undefined) warnings.push(`${n}: ignored without NATS_URL`);
        }
      }
    });
}

// ---------------------------------------------------------------------------

function readRaw(
  env: Record<string, string | undefined>,
  argv: readonly string[],
  errors: string[],
  warnings: string[],
): { raw: Raw; fromFlag: Set<SettingName> } {
  const raw: Raw = {};
  const fromFlag = new Set<SettingName>();
  for (const def of SETTINGS) {
    const v = env[def.name]?.trim();
    if (v !== undefined && v !== "") raw[def.name] = v;
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith("EDGEPATH_") && !SETTING_NAMES.has(key)) warnings.push(`${key}: unknown setting, ignored`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      errors.push(`${arg}: unexpected argument (settings are --name=value)`);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const name = FLAG_TO_NAME.get(flag);
    if (name === undefined) {
      errors.push(`${flag}: unknown option`);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) value = argv[++i];
    if (value === undefined) {
      errors.push(`${name}: ${flag} needs a value`);
      continue;
    }
    value = value.trim();
    if (value === "") delete raw[name];
    else raw[name] = value;
    fromFlag.add(name);
    if (name === "EDGEPATH_SECRET" || name === "REDIS_PASSWORD" || name === "NATS_PASSWORD" || name === "NATS_TOKEN") {
      warnings.push(`${name}: given as ${flag}, which other local users can read in the process list; prefer the environment`);
    }
  }
  return { raw, fromFlag };
}

/** Required settings per role, with the reason shown in the error. */
function requiredFor(role: Role): readonly SettingName[] {
  switch (role) {
    case "all":
      return [];
    case "edge":
      return ["EDGEPATH_INTERNAL_LISTEN", "EDGEPATH_SECRET", "NATS_URL"];
    case "registrar":
      return ["EDGEPATH_INTERNAL_LISTEN", "EDGEPATH_SECRET", "NATS_URL", "REDIS_URL"];
  }
}

function nameOf(n: string): SettingName | undefined {
  return SETTING_NAMES.has(n) ? (n as SettingName) : undefined;
}

/** EDGEPATH_WS_ALLOWED_ORIGINS: "https://app.example.com, http://localhost:8080" (RFC 6454 serialised origins). */
function parseOriginList(v: string): Parsed<string[]> {
  const out: string[] = [];
  for (const raw of v.split(",")) {
    const o = raw.trim();
    if (o === "") continue;
    let origin: string;
    try {
      origin = new URL(o).origin;
    } catch {
      return { ok: false, message: `"${o}" is not an origin like https://app.example.com` };
    }
    if (origin === "null" || origin !== o.replace(/\/$/, "").toLowerCase()) {
      return { ok: false, message: `"${o}" is not an origin (scheme://host[:port], no path): did you mean "${origin}"?` };
    }
    out.push(origin);
  }
  return { ok: true, value: out };
}

/** EDGEPATH_TRUSTED_CIDRS: "10.0.0.0/8, 192.0.2.7, 2001:db8::/32". */
function parseCidrList(v: string): Parsed<string[]> {
  const out: string[] = [];
  for (const raw of v.split(",")) {
    const c = raw.trim();
    if (c === "") continue;
    const slash = c.indexOf("/");
    const addr = slash < 0 ? c : c.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) return { ok: false, message: `"${c}" is not an IP address or CIDR` };
    if (slash >= 0) {
      const p = c.slice(slash + 1);
      const max = family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(p) || Number(p) > max) return { ok: false, message: `"${c}" has a bad prefix length (0..${max})` };
    }
    out.push(c);
  }
  return { ok: true, value: out };
}

function parseNatsServers(v: string): Parsed<string[]> {
  const servers = v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (servers.length === 0) return { ok: false, message: "no server given" };
  for (const s of servers) {
    const r = parseUrl(s, ["nats", "tls", "ws", "wss"]);
    if (!r.ok) return r;
  }
  return { ok: true, value: servers };
}

/** An EDGEPATH_PUBLIC_ADVERTISE entry applies to UDP listeners (one for udp, or one for every transport). */
function advertisesUdp(list: readonly PublicAdvertise[] | undefined): boolean {
  return list?.some((a) => a.transport === undefined || a.transport === "udp") === true;
}

/**
 * The address a wildcard UDP listener advertises when the operator gave none, and whether it is
 * one a remote UA can use. For 0.0.0.0: the first external IPv4 address. For "::" (dual-stack in
 * Node, and most UAs are IPv4): the first external IPv4 address, else a global IPv6 address, else a
 * unique-local one (fc00::/7). Link-local IPv6 needs a zone a UA cannot use. With none of these:
 * 127.0.0.1, which only clients on this host reach (said so in the warning). Interfaces in the order the OS lists them.
 */
function pickInterfaceAddress(wildcard: string, interfaces: NodeJS.Dict<readonly NetworkInterfaceInfo[]>): { address: string; external: boolean } {
  const all = Object.values(interfaces).flatMap((list) => (list ?? []).filter((i) => !i.internal));
  const v4 = all.find((i) => i.family === "IPv4");
  if (v4 !== undefined) return { address: v4.address, external: true };
  if (wildcard === "::") {
    const v6 = all.filter((i) => i.family === "IPv6" && !/^fe[89ab]/i.test(i.address));
    const global = v6.find((i) => !/^f[cd]/i.test(i.address)) ?? v6[0];
    if (global !== undefined) return { address: global.address, external: true };
  }
  // "::" is dual-stack in Node, so the IPv4 loopback reaches it too.
  return { address: "127.0.0.1", external: false };
}

/**
 * Reads and validates the configuration for `role`. Never throws; every error
 * line starts with the setting's env name.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  argv: readonly string[],
  role: Role,
  host: LoadConfigHost = {},
): LoadConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const { raw, fromFlag } = readRaw(env, argv, errors, warnings);
  const given = new Set(Object.keys(raw));
  const missing = new Set<string>();
  for (const name of requiredFor(role)) {
    if (raw[name] === undefined) {
      missing.add(name);
      errors.push(`${name}: required for the ${role} role (or ${flagFor(name)})`);
    }
  }
  for (const def of SETTINGS as readonly SettingDef[]) {
    const n = def.name as SettingName;
    if (raw[n] === undefined) {
      const d = defaultFor(def, role);
      if (d !== undefined) raw[n] = d;
    }
  }
  const result = makeSchema(role, warnings).safeParse(raw);
  if (!result.success) {
    for (const iss of result.error.issues) {
      const name = String(iss.path[0] ?? "config");
      if (missing.has(name)) continue; // already reported as required
      const n = nameOf(name);
      const via = n !== undefined && fromFlag.has(n) ? ` (from ${flagFor(name)})` : "";
      errors.push(`${name}${via}: ${iss.message}`);
    }
  }
  if (errors.length > 0 || !result.success) return { ok: false, errors };
  const c = result.data;

  // Role-dependent facts that are not errors.
  if (!given.has("EDGEPATH_DOMAINS")) {
    warnings.push(`EDGEPATH_DOMAINS: not set; serving only "localhost"`);
  }
  let secret = c.EDGEPATH_SECRET;
  if (secret === undefined) {
    // role === "all" (required otherwise).
    secret = (host.randomSecret ?? (() => randomBytes(32).toString("base64url")))();
    warnings.push("EDGEPATH_SECRET: not set; generated a random one for this process (flow tokens and nonces won't survive a restart)");
  }
  if (c.EDGEPATH_AUTH === "off" && role !== "edge") {
    warnings.push(
      "EDGEPATH_AUTH: off — REGISTER and calls are NOT authenticated; anyone who can reach the SIP port can register any AOR. Set EDGEPATH_AUTH=required before exposing this system",
    );
  }
  if (role === "edge" && c.REDIS_URL !== undefined) warnings.push("REDIS_URL: not used by the edge role");
  if (role !== "all" && given.has("EDGEPATH_WORKERS")) warnings.push(`EDGEPATH_WORKERS: only used in all-mode`);
  if (role === "registrar" && given.has("EDGEPATH_PUBLIC_ADVERTISE")) warnings.push("EDGEPATH_PUBLIC_ADVERTISE: only used by edges");

  let publicAdvertise = c.EDGEPATH_PUBLIC_ADVERTISE;
  const wildUdp = c.EDGEPATH_SIP_LISTEN.find((l) => l.transport === "udp" && isWildcardHost(l.host));
  if (role !== "registrar" && wildUdp !== undefined && !advertisesUdp(publicAdvertise)) {
    // A UDP socket bound to a wildcard cannot tell which local address a datagram arrived on, so
    // the edge would have no address for its Via sent-by and public Record-Route (RFC 3261 §16.6
    // step 4, §18.2.1): remote UAs would send in-dialog requests to 0.0.0.0. Advertise the host's
    // first external interface address (what Kamailio's auto-detected listen addresses give), and
    // say so: behind NAT or a load balancer only the operator knows the right one.
    const picked = pickInterfaceAddress(wildUdp.host, (host.interfaces ?? networkInterfaces)());
    publicAdvertise = [...(publicAdvertise ?? []), { transport: "udp", host: picked.address }];
    warnings.push(
      picked.external
        ? `EDGEPATH_PUBLIC_ADVERTISE: not set for the wildcard UDP listener udp:${formatHostPort(wildUdp)}; advertising ${picked.address} (the first external interface address) in Via and Record-Route. Set it to the address clients reach this system at`
        : `EDGEPATH_PUBLIC_ADVERTISE: not set for the wildcard UDP listener udp:${formatHostPort(wildUdp)}, and this host has no external interface address; advertising ${picked.address}, which only clients on this host can reach. Set it to the address clients reach this system at`,
    );
  }

  const internalListen = c.EDGEPATH_INTERNAL_LISTEN;
  // Default advertise = the internal listen address unless it is a wildcard.
  const advertise = c.EDGEPATH_ADVERTISE ?? (isWildcardHost(internalListen.host) ? undefined : internalListen);

  const tlsFiles =
    c.EDGEPATH_TLS_CERT !== undefined && c.EDGEPATH_TLS_KEY !== undefined
      ? {
          certFile: c.EDGEPATH_TLS_CERT,
          keyFile: c.EDGEPATH_TLS_KEY,
          ...(c.EDGEPATH_TLS_CA !== undefined ? { caFile: c.EDGEPATH_TLS_CA } : {}),
          reloadIntervalMs: c.EDGEPATH_TLS_RELOAD_MS,
        }
      : undefined;

  const redis: RedisConfig | undefined =
    c.REDIS_URL === undefined || role === "edge"
      ? undefined
      : {
          url: c.REDIS_URL,
          tls: c.REDIS_TLS || c.REDIS_URL.startsWith("rediss:"),
          ...(c.REDIS_USERNAME !== undefined ? { username: c.REDIS_USERNAME } : {}),
          ...(c.REDIS_PASSWORD !== undefined ? { password: c.REDIS_PASSWORD } : {}),
        };
  const nats: NatsConfig | undefined =
    c.NATS_URL === undefined
      ? undefined
      : {
          servers: c.NATS_URL,
          tls: c.NATS_TLS || c.NATS_URL.some((u) => u.startsWith("tls:") || u.startsWith("wss:")),
          ...(c.NATS_USER !== undefined ? { user: c.NATS_USER } : {}),
          ...(c.NATS_PASSWORD !== undefined ? { password: c.NATS_PASSWORD } : {}),
          ...(c.NATS_TOKEN !== undefined ? { token: c.NATS_TOKEN } : {}),
          ...(c.NATS_CREDS !== undefined ? { credsFile: c.NATS_CREDS } : {}),
        };

  const nodeId = c.EDGEPATH_NODE_ID ?? defaultNodeId(host);

  const config: EdgepathConfig = {
    role,
    nodeId,
    logLevel: c.EDGEPATH_LOG_LEVEL,
    sip: {
      listen: c.EDGEPATH_SIP_LISTEN,
      internalListen,
      ...(advertise !== undefined ? { advertise } : {}),
      ...(publicAdvertise !== undefined ? { publicAdvertise } : {}),
      internalTransport: c.EDGEPATH_INTERNAL_TRANSPORT,
      ...(tlsFiles !== undefined ? { tls: tlsFiles } : {}),
    },
    httpListen: c.EDGEPATH_HTTP_LISTEN,
    cluster: { heartbeatMs: c.EDGEPATH_HEARTBEAT_MS, memberTtlMs: c.EDGEPATH_MEMBER_TTL_MS },
    reachability: {
      udpPingIntervalMs: c.EDGEPATH_UDP_PING_INTERVAL_MS,
      udpPingTimeoutMs: c.EDGEPATH_UDP_PING_TIMEOUT_MS ?? 3 * c.EDGEPATH_UDP_PING_INTERVAL_MS,
    },
    domains: c.EDGEPATH_DOMAINS,
    domainAliases: new Map(c.EDGEPATH_DOMAIN_ALIASES ?? []),
    secret,
    workers: c.EDGEPATH_WORKERS,
    ...(redis !== undefined ? { redis } : {}),
    ...(nats !== undefined ? { nats } : {}),
    registrar: {
      defaultExpires: c.EDGEPATH_DEFAULT_EXPIRES,
      minExpires: c.EDGEPATH_MIN_EXPIRES,
      maxExpires: c.EDGEPATH_MAX_EXPIRES,
      maxContacts: c.EDGEPATH_MAX_CONTACTS,
      overloadQueueDelayMs: c.EDGEPATH_OVERLOAD_QUEUE_DELAY_MS,
    },
    limits: {
      maxMessageBytes: c.EDGEPATH_MAX_MESSAGE_BYTES,
      tcpIdleTimeoutMs: c.EDGEPATH_TCP_IDLE_TIMEOUT_MS,
      headerReadTimeoutMs: c.EDGEPATH_HEADER_TIMEOUT_MS,
      maxConnections: c.EDGEPATH_MAX_CONNECTIONS,
      maxConnectionsPerIp: c.EDGEPATH_MAX_CONNECTIONS_PER_IP,
      wsAllowedOrigins: c.EDGEPATH_WS_ALLOWED_ORIGINS ?? [],
      ratePerSec: c.EDGEPATH_RATE_LIMIT,
      rateBurst: c.EDGEPATH_RATE_BURST ?? Math.max(1, 2 * c.EDGEPATH_RATE_LIMIT),
      rateAction: c.EDGEPATH_RATE_LIMIT_ACTION,
      maxHeaders: c.EDGEPATH_MAX_HEADERS,
      maxVia: c.EDGEPATH_MAX_VIA,
      maxRoute: c.EDGEPATH_MAX_ROUTE,
    },
    auth: {
      mode: c.EDGEPATH_AUTH,
      ...(c.EDGEPATH_AUTH_REALM !== undefined ? { realm: c.EDGEPATH_AUTH_REALM.toLowerCase() } : {}),
      nonceTtlSec: c.EDGEPATH_NONCE_TTL,
      trustedCidrs: c.EDGEPATH_TRUSTED_CIDRS ?? [],
    },
  };
  return { ok: true, config, warnings };
}

/** `loadConfig` for entry points that prefer an exception. */
export function loadConfigOrThrow(
  env: Record<string, string | undefined>,
  argv: readonly string[],
  role: Role,
  host?: LoadConfigHost,
): { config: EdgepathConfig; warnings: string[] } {
  const r = loadConfig(env, argv, role, host);
  if (!r.ok) throw new ConfigError(r.errors);
  return { config: r.config, warnings: r.warnings };
}

function defaultNodeId(host: LoadConfigHost): string {
  const h = (host.hostname ?? osHostname()).replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 100) || "node";
  return `${h}-${host.pid ?? process.pid}`;
}
