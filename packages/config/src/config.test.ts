import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, describeSettings, flagFor, loadConfig, loadConfigOrThrow } from "./config.js";
import type { EdgepathConfig, Role } from "./config.js";
import { parseListenList } from "./parse.js";

/** A host with loopback, a link-local IPv6 and one external address per family (listed in that order). */
const INTERFACES = {
  lo: [iface("127.0.0.1", "IPv4", true), iface("::1", "IPv6", true)],
  eth0: [iface("fe80::5054:ff:fe12:3456", "IPv6", false), iface("192.0.2.44", "IPv4", false), iface("2001:db8::44", "IPv6", false)],
};
const HOST = { hostname: "node1.example", pid: 42, randomSecret: () => "generated-secret-0123456789", interfaces: () => INTERFACES };

function iface(address: string, family: "IPv4" | "IPv6", internal: boolean): NetworkInterfaceInfo {
  return { address, family, internal, netmask: "", mac: "00:00:00:00:00:00", cidr: null, ...(family === "IPv6" ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
}
const SECRET = "s3cret-s3cret-s3cret";
const EDGE_ENV = { EDGEPATH_INTERNAL_LISTEN: "10.0.0.5:5070", EDGEPATH_SECRET: SECRET, NATS_URL: "nats://nats:4222" };
const REG_ENV = { ...EDGE_ENV, REDIS_URL: "redis://redis:6379" };

function ok(env: Record<string, string | undefined>, role: Role = "all", argv: string[] = []): { config: EdgepathConfig; warnings: string[] } {
  const r = loadConfig(env, argv, role, HOST);
  if (!r.ok) throw new Error(`unexpected errors: ${r.errors.join("; ")}`);
  return r;
}

function errs(env: Record<string, string | undefined>, role: Role = "all", argv: string[] = []): string[] {
  const r = loadConfig(env, argv, role, HOST);
  if (r.ok) throw new Error("expected errors");
  return r.errors;
}

describe("loadConfig defaults", () => {
  it("all-mode works with an empty environment", () => {
    const { config, warnings } = ok({});
    expect(config.role).toBe("all");
    expect(config.sip.listen).toEqual([
      { transport: "udp", host: "0.0.0.0", port: 5060 },
      { transport: "tcp", host: "0.0.0.0", port: 5060 },
    ]);
    expect(config.sip.internalListen).toEqual({ host: "127.0.0.1", port: 0 });
    expect(config.sip.advertise).toEqual({ host: "127.0.0.1", port: 0 });
    expect(config.sip.internalTransport).toBe("udp");
    expect(config.httpListen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(config.domains).toEqual(["localhost"]);
    expect(config.secret).toBe("generated-secret-0123456789");
    expect(config.workers).toBe(2);
    expect(config.nodeId).toBe("node1.example-42");
    expect(config.logLevel).toBe("info");
    expect(config.redis).toBeUndefined();
    expect(config.nats).toBeUndefined();
    expect(config.registrar).toEqual({ defaultExpires: 3600, minExpires: 60, maxExpires: 7200, maxContacts: 10, overloadQueueDelayMs: 200 });
    expect(config.limits).toEqual({
      maxMessageBytes: 65535,
      tcpIdleTimeoutMs: 300000,
      headerReadTimeoutMs: 10000,
      maxConnections: 10000,
      maxConnectionsPerIp: 100,
      wsAllowedOrigins: [],
      ratePerSec: 0,
      rateBurst: 1,
      rateAction: "reply",
      maxHeaders: 128,
      maxVia: 32,
      maxRoute: 32,
    });
    expect(warnings.some((w) => w.startsWith("EDGEPATH_DOMAINS:"))).toBe(true);
    expect(warnings.some((w) => w.startsWith("EDGEPATH_SECRET:"))).toBe(true);
  });

  it("random secret is generated when no generator is injected", () => {
    const r = loadConfig({}, [], "all");
    expect(r.ok && r.config.secret.length >= 16).toBe(true);
  });

  it("edge and registrar bind HTTP on all interfaces by default", () => {
    expect(ok(EDGE_ENV, "edge").config.httpListen).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(ok(REG_ENV, "registrar").config.httpListen).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("edge needs NATS only; REDIS_URL is ignored with a warning", () => {
    const { config, warnings } = ok({ ...REG_ENV }, "edge");
    expect(config.nats).toEqual({ servers: ["nats://nats:4222"], tls: false });
    expect(config.redis).toBeUndefined();
    expect(warnings).toContain("REDIS_URL: not used by the edge role");
  });

  it("registrar gets redis and nats settings", () => {
    const { config } = ok(
      { ...REG_ENV, REDIS_URL: "rediss://redis:6380/0", REDIS_USERNAME: "ep", REDIS_PASSWORD: "pw", NATS_URL: "tls://a:4222, tls://b:4222", NATS_TOKEN: "tok" },
      "registrar",
    );
    expect(config.redis).toEqual({ url: "rediss://redis:6380/0", tls: true, username: "ep", password: "pw" });
    expect(config.nats).toEqual({ servers: ["tls://a:4222", "tls://b:4222"], tls: true, token: "tok" });
  });

  it("advertise defaults to the internal listen address unless it is a wildcard", () => {
    expect(ok(EDGE_ENV, "edge").config.sip.advertise).toEqual({ host: "10.0.0.5", port: 5070 });
    expect(ok({ ...EDGE_ENV, EDGEPATH_ADVERTISE: "edge-0.edge:5070" }, "edge").config.sip.advertise).toEqual({ host: "edge-0.edge", port: 5070 });
    // A bracketed IPv4 address is taken as well (the Helm chart writes "[$(POD_IP)]:5070" for either family).
    expect(ok({ ...EDGE_ENV, EDGEPATH_ADVERTISE: "[10.0.0.9]:5070" }, "edge").config.sip.advertise).toEqual({ host: "10.0.0.9", port: 5070 });
    expect(ok({ ...EDGE_ENV, EDGEPATH_ADVERTISE: "[fd00::9]:5070" }, "edge").config.sip.advertise).toEqual({ host: "fd00::9", port: 5070 });
    expect(ok({ EDGEPATH_INTERNAL_LISTEN: "0.0.0.0:0" }).config.sip.advertise).toBeUndefined();
  });

  it("trims values and treats blank as unset", () => {
    const { config } = ok({ EDGEPATH_WORKERS: "  4 ", EDGEPATH_LOG_LEVEL: "   ", EDGEPATH_DOMAINS: " Example.COM, b.example ,,example.com" });
    expect(config.workers).toBe(4);
    expect(config.logLevel).toBe("info");
    expect(config.domains).toEqual(["example.com", "b.example"]);
  });

  it("unknown EDGEPATH_* variables are warned about (typos)", () => {
    expect(ok({ EDGEPATH_SIP_LISTN: "x" }).warnings).toContain("EDGEPATH_SIP_LISTN: unknown setting, ignored");
  });
});

describe("EDGEPATH_DOMAIN_ALIASES (Kamailio's alias)", () => {
  it("maps each alias (host name or address, IPv6 bracketed or not) to a served domain", () => {
    const { config } = ok({ EDGEPATH_DOMAINS: "example.com,voice.example.net", EDGEPATH_DOMAIN_ALIASES: "203.0.113.7=example.com, [2001:DB8::7]=voice.example.net,SIP.Carrier.example=example.com" });
    expect([...config.domainAliases]).toEqual([["203.0.113.7", "example.com"], ["2001:db8::7", "voice.example.net"], ["sip.carrier.example", "example.com"]]);
    expect(ok({}).config.domainAliases.size).toBe(0);
    // an IPv6 domain is named with or without brackets, as in EDGEPATH_DOMAINS
    expect([...ok({ EDGEPATH_DOMAINS: "[2001:db8::1]", EDGEPATH_DOMAIN_ALIASES: "v6.example=[2001:db8::1]" }).config.domainAliases]).toEqual([["v6.example", "2001:db8::1"]]);
    // one spelling per IPv6 address (RFC 5952), so the alias's domain is found however it is written
    const v6 = ok({ EDGEPATH_DOMAINS: "2001:DB8:0::1", EDGEPATH_DOMAIN_ALIASES: "2001:db8:0:0::7=[2001:db8::1]" }).config;
    expect(v6.domains).toEqual(["2001:db8::1"]);
    expect([...v6.domainAliases]).toEqual([["2001:db8::7", "2001:db8::1"]]);
  });

  it.each([
    ["203.0.113.7", /is not alias=domain/],
    ["bad_host!=example.com", /not a host name or IP address/],
    ["203.0.113.7=other.example", /other\.example is not in EDGEPATH_DOMAINS/],
    ["example.com=example.com", /itself in EDGEPATH_DOMAINS/],
    ["0.0.0.0=example.com", /not an address a Request-URI names/],
    ["sip.carrier.example.=example.com", /not an address a Request-URI names/],
    ["203.0.113.7=example.com,203.0.113.7=example.com", /given twice/],
  ])("refuses %s naming the setting", (value, why) => {
    const e = errs({ EDGEPATH_DOMAINS: "example.com", EDGEPATH_DOMAIN_ALIASES: value });
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^EDGEPATH_DOMAIN_ALIASES: /);
    expect(e[0]).toMatch(why);
  });
});

describe("listen specs", () => {
  it("parses transports, IPv4, IPv6 and host names", () => {
    const r = parseListenList("udp:0.0.0.0:5060, tls:[::]:5061 ws:[2001:db8::1]:8088,[::1]:5062,sip.example.com:5070");
    expect(r).toEqual({
      ok: true,
      value: [
        { transport: "udp", host: "0.0.0.0", port: 5060 },
        { transport: "tls", host: "::", port: 5061 },
        { transport: "ws", host: "2001:db8::1", port: 8088 },
        { transport: "udp", host: "::1", port: 5062 },
        { transport: "tcp", host: "::1", port: 5062 },
        { transport: "udp", host: "sip.example.com", port: 5070 },
        { transport: "tcp", host: "sip.example.com", port: 5070 },
      ],
    });
  });

  it("IPv6 via env: [::1]:5060", () => {
    const { config } = ok({ EDGEPATH_SIP_LISTEN: "[::1]:5060", EDGEPATH_INTERNAL_LISTEN: "[::1]:5070", EDGEPATH_HTTP_LISTEN: "[::1]:0" });
    expect(config.sip.listen).toEqual([
      { transport: "udp", host: "::1", port: 5060 },
      { transport: "tcp", host: "::1", port: 5060 },
    ]);
    expect(config.sip.internalListen).toEqual({ host: "::1", port: 5070 });
    expect(config.httpListen).toEqual({ host: "::1", port: 0 });
  });

  it("tls, ws and wss listeners with certificate files and an optional CA bundle (RFC 7118, RFC 3261 §26.2.1)", () => {
    const { config } = ok({
      EDGEPATH_SIP_LISTEN: "udp:127.0.0.1:5060,tls:127.0.0.1:5061,ws:127.0.0.1:8080,wss:127.0.0.1:8443",
      EDGEPATH_TLS_CERT: "/tls/edge.crt",
      EDGEPATH_TLS_KEY: "/tls/edge.key",
      EDGEPATH_TLS_CA: "/tls/ca.crt",
    });
    expect(config.sip.listen.map((l) => `${l.transport}:${l.port}`)).toEqual(["udp:5060", "tls:5061", "ws:8080", "wss:8443"]);
    expect(config.sip.tls).toEqual({ certFile: "/tls/edge.crt", keyFile: "/tls/edge.key", caFile: "/tls/ca.crt", reloadIntervalMs: 10000 });
    expect(ok({ EDGEPATH_TLS_CERT: "/c.pem", EDGEPATH_TLS_KEY: "/k.pem" }).config.sip.tls).toEqual({ certFile: "/c.pem", keyFile: "/k.pem", reloadIntervalMs: 10000 });
  });

  it.each([
    ["sctp:0.0.0.0:5060", "unknown transport"],
    ["0.0.0.0", "no port"],
    ["::1:5060", "brackets"],
    ["[::1:5060", "[ipv6]:port"],
    ["[fe80::zz]:5060", "not an IP address"],
    ["0.0.0.0:70000", "out of range"],
    ["0.0.0.0:abc", "bad port"],
    ["bad_host:5060", "not a valid host"],
    ["udp:0.0.0.0:5060,udp:0.0.0.0:5060", "given twice"],
    [",", "no listen address"],
  ])("EDGEPATH_SIP_LISTEN=%s is rejected naming the setting", (value, why) => {
    const e = errs({ EDGEPATH_SIP_LISTEN: value });
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^EDGEPATH_SIP_LISTEN: /);
    expect(e[0]).toContain(why);
  });
});

describe("flags", () => {
  it("mirror env names and override env", () => {
    const { config } = ok({ EDGEPATH_WORKERS: "3", REDIS_URL: "redis://a:1" }, "all", ["--workers=5", "--redis-url", "redis://b:2", "--log-level=debug"]);
    expect(config.workers).toBe(5);
    expect(config.redis?.url).toBe("redis://b:2");
    expect(config.logLevel).toBe("debug");
  });

  it("a blank flag unsets the env value", () => {
    expect(ok({ EDGEPATH_WORKERS: "3" }, "all", ["--workers="]).config.workers).toBe(2);
  });

  it("flag names: EDGEPATH_ prefix dropped, lower-case, dashes", () => {
    expect(flagFor("EDGEPATH_SIP_LISTEN")).toBe("--sip-listen");
    expect(flagFor("REDIS_URL")).toBe("--redis-url");
    expect(flagFor("NATS_CREDS")).toBe("--nats-creds");
  });

  it("errors from flags say so", () => {
    expect(errs({}, "all", ["--workers=0"])).toEqual(["EDGEPATH_WORKERS (from --workers): 0 is out of range (1..64)"]);
  });

  it("unknown flags, stray arguments and missing values are errors", () => {
    expect(errs({}, "all", ["--nope=1"])).toEqual(["--nope: unknown option"]);
    expect(errs({}, "all", ["stray"])).toEqual(["stray: unexpected argument (settings are --name=value)"]);
    expect(errs({}, "all", ["--workers"])).toEqual(["EDGEPATH_WORKERS: --workers needs a value"]);
  });

  it("secrets on the command line are warned about", () => {
    expect(ok({}, "all", [`--secret=${SECRET}`]).warnings.some((w) => w.startsWith("EDGEPATH_SECRET: given as --secret"))).toBe(true);
  });
});

describe("errors name the setting", () => {
  const cases: [string, Record<string, string>, Role, RegExp][] = [
    ["EDGEPATH_INTERNAL_LISTEN", { EDGEPATH_SECRET: SECRET, NATS_URL: "nats://n:4222" }, "edge", /required for the edge role \(or --internal-listen\)/],
    ["EDGEPATH_INTERNAL_LISTEN", { EDGEPATH_INTERNAL_LISTEN: "nohost" }, "all", /no port/],
    ["EDGEPATH_SECRET", { EDGEPATH_INTERNAL_LISTEN: "10.0.0.5:5070", NATS_URL: "nats://n:4222" }, "edge", /required for the edge role/],
    ["EDGEPATH_SECRET", { EDGEPATH_SECRET: "short" }, "all", /at least 16/],
    ["NATS_URL", { EDGEPATH_INTERNAL_LISTEN: "10.0.0.5:5070", EDGEPATH_SECRET: SECRET }, "edge", /required for the edge role/],
    ["REDIS_URL", EDGE_ENV, "registrar", /required for the registrar role/],
    ["REDIS_URL", { REDIS_URL: "http://redis:6379" }, "all", /scheme "http:" not supported/],
    ["REDIS_URL", { REDIS_URL: "not a url" }, "all", /not a URL/],
    ["NATS_URL", { NATS_URL: "nats://ok:4222,ftp://x" }, "all", /not supported/],
    ["NATS_URL", { NATS_URL: " , " }, "all", /no server/],
    ["EDGEPATH_ADVERTISE", { ...EDGE_ENV, EDGEPATH_INTERNAL_LISTEN: "0.0.0.0:5070" }, "edge", /required when EDGEPATH_INTERNAL_LISTEN is a wildcard/],
    ["EDGEPATH_ADVERTISE", { EDGEPATH_ADVERTISE: "0.0.0.0:5070" }, "all", /wildcard/],
    ["EDGEPATH_ADVERTISE", { EDGEPATH_ADVERTISE: "10.0.0.1:0" }, "all", /out of range/],
    ["EDGEPATH_HTTP_LISTEN", { EDGEPATH_HTTP_LISTEN: "8080" }, "all", /no port/],
    ["EDGEPATH_INTERNAL_TRANSPORT", { EDGEPATH_INTERNAL_TRANSPORT: "sctp" }, "all", /not udp/],
    ["EDGEPATH_INTERNAL_TRANSPORT", { EDGEPATH_INTERNAL_TRANSPORT: "tcp" }, "all", /not implemented yet/],
    ["EDGEPATH_DOMAINS", { EDGEPATH_DOMAINS: "ok.example,bad domain" }, "all", /not a domain/],
    ["EDGEPATH_DOMAINS", { EDGEPATH_DOMAINS: " , " }, "all", /no domain/],
    ["EDGEPATH_WORKERS", { EDGEPATH_WORKERS: "65" }, "all", /out of range \(1..64\)/],
    ["EDGEPATH_WORKERS", { EDGEPATH_WORKERS: "two" }, "all", /not an integer/],
    ["EDGEPATH_NODE_ID", { EDGEPATH_NODE_ID: "a b" }, "all", /letters, digits/],
    ["EDGEPATH_LOG_LEVEL", { EDGEPATH_LOG_LEVEL: "verbose" }, "all", /not one of fatal/],
    ["REDIS_TLS", { REDIS_TLS: "maybe" }, "all", /not a boolean/],
    ["NATS_TLS", { NATS_TLS: "2" }, "all", /not a boolean/],
    ["EDGEPATH_MIN_EXPIRES", { EDGEPATH_MIN_EXPIRES: "8000" }, "all", /greater than EDGEPATH_MAX_EXPIRES/],
    ["EDGEPATH_DEFAULT_EXPIRES", { EDGEPATH_DEFAULT_EXPIRES: "30" }, "all", /less than EDGEPATH_MIN_EXPIRES/],
    ["EDGEPATH_DEFAULT_EXPIRES", { EDGEPATH_DEFAULT_EXPIRES: "9000" }, "all", /greater than EDGEPATH_MAX_EXPIRES/],
    ["EDGEPATH_MIN_EXPIRES", { EDGEPATH_MIN_EXPIRES: "0" }, "all", /out of range/],
    ["EDGEPATH_MAX_EXPIRES", { EDGEPATH_MAX_EXPIRES: "-5" }, "all", /out of range/],
    ["EDGEPATH_MAX_CONTACTS", { EDGEPATH_MAX_CONTACTS: "0" }, "all", /out of range/],
    ["EDGEPATH_OVERLOAD_QUEUE_DELAY_MS", { EDGEPATH_OVERLOAD_QUEUE_DELAY_MS: "10" }, "all", /0 \(off\) or 20\.\.10000/],
    ["EDGEPATH_OVERLOAD_QUEUE_DELAY_MS", { EDGEPATH_OVERLOAD_QUEUE_DELAY_MS: "20000" }, "all", /out of range/],
    ["EDGEPATH_MAX_MESSAGE_BYTES", { EDGEPATH_MAX_MESSAGE_BYTES: "100" }, "all", /out of range/],
    ["EDGEPATH_TCP_IDLE_TIMEOUT_MS", { EDGEPATH_TCP_IDLE_TIMEOUT_MS: "1.5" }, "all", /not an integer/],
    ["EDGEPATH_MAX_CONNECTIONS", { EDGEPATH_MAX_CONNECTIONS: "0" }, "all", /out of range/],
    ["EDGEPATH_MAX_CONNECTIONS_PER_IP", { EDGEPATH_MAX_CONNECTIONS_PER_IP: "x" }, "all", /not an integer/],
    ["EDGEPATH_WS_ALLOWED_ORIGINS", { EDGEPATH_WS_ALLOWED_ORIGINS: "app.example.com" }, "all", /not an origin/],
    ["EDGEPATH_WS_ALLOWED_ORIGINS", { EDGEPATH_WS_ALLOWED_ORIGINS: "https://app.example.com/phone" }, "all", /did you mean "https:\/\/app.example.com"/],
    ["EDGEPATH_TLS_CERT", { EDGEPATH_SIP_LISTEN: "tls:0.0.0.0:5061", EDGEPATH_TLS_KEY: "/k.pem" }, "all", /required for tls\/wss/],
    ["EDGEPATH_TLS_KEY", { EDGEPATH_TLS_CERT: "/c.pem" }, "all", /go together/],
    ["NATS_TOKEN", { NATS_URL: "nats://n:4222", NATS_TOKEN: "t", NATS_USER: "u", NATS_PASSWORD: "p" }, "all", /one of/],
    ["NATS_PASSWORD", { NATS_URL: "nats://n:4222", NATS_USER: "u" }, "all", /go together/],
    ["NATS_USER", { NATS_URL: "nats://n:4222", NATS_USER: "u", NATS_PASSWORD: "p", NATS_CREDS: "/c" }, "all", /one of/],
  ];
  it.each(cases)("%s (%j, %s)", (name, env, role, why) => {
    const e = errs(env, role);
    const mine = e.filter((x) => x.startsWith(`${name}: `));
    expect(mine, e.join("\n")).toHaveLength(1);
    expect(mine[0]).toMatch(why);
  });

  it("reports every bad setting at once", () => {
    const e = errs({ EDGEPATH_WORKERS: "0", EDGEPATH_LOG_LEVEL: "loud", REDIS_TLS: "?" }, "registrar");
    const names = e.map((x) => x.split(":")[0]);
    expect(names).toEqual(
      expect.arrayContaining(["EDGEPATH_INTERNAL_LISTEN", "EDGEPATH_SECRET", "NATS_URL", "REDIS_URL", "EDGEPATH_WORKERS", "EDGEPATH_LOG_LEVEL", "REDIS_TLS"]),
    );
  });

  it("never echoes a URL password", () => {
    const e = errs({ REDIS_URL: "http://user:hunter2@redis:6379" });
    expect(e.join()).not.toContain("hunter2");
  });

  it("loadConfigOrThrow throws a typed ConfigError listing every line", () => {
    let err: unknown;
    try {
      loadConfigOrThrow({ EDGEPATH_WORKERS: "0" }, [], "all", HOST);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe("invalid-config");
    expect((err as ConfigError).name).toBe("ConfigError");
    expect((err as ConfigError).errors).toEqual(["EDGEPATH_WORKERS: 0 is out of range (1..64)"]);
    expect(loadConfigOrThrow({}, [], "all", HOST).config.workers).toBe(2);
  });
});

describe("describeSettings", () => {
  it("lists every setting with help, flag and defaults", () => {
    const s = describeSettings();
    const names = s.map((x) => x.name);
    for (const n of ["EDGEPATH_SIP_LISTEN", "EDGEPATH_SECRET", "REDIS_URL", "NATS_URL", "EDGEPATH_MAX_CONNECTIONS_PER_IP", "EDGEPATH_INTERNAL_TRANSPORT"]) {
      expect(names).toContain(n);
    }
    expect(new Set(names).size).toBe(names.length);
    for (const x of s) expect(x.help.length).toBeGreaterThan(10);
    expect(s.find((x) => x.name === "EDGEPATH_DEFAULT_EXPIRES")?.default).toBe("3600");
    expect(s.find((x) => x.name === "EDGEPATH_SIP_LISTEN")?.flag).toBe("--sip-listen");
  });
});

describe("auth and edge limits (DESIGN §6)", () => {
  it("EDGEPATH_AUTH defaults to off with a loud warning in all-mode, required in cluster roles", () => {
    const all = loadConfigOrThrow({}, [], "all", HOST);
    expect(all.config.auth).toEqual({ mode: "off", nonceTtlSec: 300, trustedCidrs: [] });
    expect(all.warnings.some((w) => w.startsWith("EDGEPATH_AUTH: off") && w.includes("NOT authenticated"))).toBe(true);
    const reg = loadConfigOrThrow(
      { EDGEPATH_INTERNAL_LISTEN: "10.0.0.5:5070", EDGEPATH_SECRET: "0123456789abcdef0123", NATS_URL: "nats://n:4222", REDIS_URL: "redis://r:6379" },
      [],
      "registrar",
      HOST,
    );
    expect(reg.config.auth.mode).toBe("required");
    expect(reg.warnings.some((w) => w.startsWith("EDGEPATH_AUTH"))).toBe(false);
  });

  it("parses realm, nonce TTL, trusted CIDRs and the rate limit settings", () => {
    const { config } = loadConfigOrThrow(
      {
        EDGEPATH_AUTH: "required",
        EDGEPATH_AUTH_REALM: "Corp",
        EDGEPATH_NONCE_TTL: "60",
        EDGEPATH_TRUSTED_CIDRS: "10.0.0.0/8, 192.0.2.7,2001:db8::/32",
        EDGEPATH_RATE_LIMIT: "50",
        EDGEPATH_RATE_LIMIT_ACTION: "drop",
        EDGEPATH_MAX_VIA: "10",
      },
      [],
      "all",
      HOST,
    );
    expect(config.auth).toEqual({ mode: "required", realm: "corp", nonceTtlSec: 60, trustedCidrs: ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"] });
    expect(config.limits).toMatchObject({ ratePerSec: 50, rateBurst: 100, rateAction: "drop", maxVia: 10, wsAllowedOrigins: [] });
  });

  it("parses the WebSocket origin allowlist into serialised origins (RFC 6454)", () => {
    const { config } = loadConfigOrThrow({ EDGEPATH_WS_ALLOWED_ORIGINS: "https://App.Example.com, http://localhost:8080/" }, [], "all", HOST);
    expect(config.limits.wsAllowedOrigins).toEqual(["https://app.example.com", "http://localhost:8080"]);
  });

  it("names the setting for bad values", () => {
    const r = loadConfig(
      { EDGEPATH_AUTH: "maybe", EDGEPATH_TRUSTED_CIDRS: "10.0.0.0/33", EDGEPATH_RATE_LIMIT_ACTION: "ignore", EDGEPATH_AUTH_REALM: 'a"b' },
      [],
      "all",
      HOST,
    );
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors.some((e) => e.startsWith("EDGEPATH_AUTH:") && e.includes("maybe"))).toBe(true);
    expect(errors.some((e) => e.startsWith("EDGEPATH_TRUSTED_CIDRS:") && e.includes("prefix"))).toBe(true);
    expect(errors.some((e) => e.startsWith("EDGEPATH_RATE_LIMIT_ACTION:"))).toBe(true);
    expect(errors.some((e) => e.startsWith("EDGEPATH_AUTH_REALM:"))).toBe(true);
  });
});

describe("timeouts and cluster timing", () => {
  it("EDGEPATH_HEADER_TIMEOUT_MS and EDGEPATH_TLS_RELOAD_MS reach the limits and the TLS settings", () => {
    const { config } = ok({ EDGEPATH_HEADER_TIMEOUT_MS: "2500", EDGEPATH_TLS_CERT: "/c.pem", EDGEPATH_TLS_KEY: "/k.pem", EDGEPATH_TLS_RELOAD_MS: "0" });
    expect(config.limits.headerReadTimeoutMs).toBe(2500);
    expect(config.sip.tls?.reloadIntervalMs).toBe(0);
    expect(ok({ EDGEPATH_TLS_CERT: "/c.pem", EDGEPATH_TLS_KEY: "/k.pem" }, "all", ["--tls-reload-ms=60000"]).config.sip.tls?.reloadIntervalMs).toBe(60000);
  });

  it("bad timeouts are refused with the setting's name", () => {
    expect(errs({ EDGEPATH_HEADER_TIMEOUT_MS: "10" })).toEqual([expect.stringMatching(/^EDGEPATH_HEADER_TIMEOUT_MS: 10 is out of range/)]);
    expect(errs({ EDGEPATH_TLS_RELOAD_MS: "soon" })).toEqual([expect.stringMatching(/^EDGEPATH_TLS_RELOAD_MS: "soon" is not an integer/)]);
  });

  it("heartbeat and member TTL default to 1000 / 3000 ms and can be set", () => {
    expect(ok({}).config.cluster).toEqual({ heartbeatMs: 1000, memberTtlMs: 3000 });
    expect(ok(REG_ENV, "registrar").config.cluster).toEqual({ heartbeatMs: 1000, memberTtlMs: 3000 });
    expect(ok({ ...EDGE_ENV, EDGEPATH_HEARTBEAT_MS: "500", EDGEPATH_MEMBER_TTL_MS: "2000" }, "edge").config.cluster).toEqual({ heartbeatMs: 500, memberTtlMs: 2000 });
  });

  it("a member TTL under two heartbeats is refused (one lost beat must not drop a member)", () => {
    expect(errs({ EDGEPATH_HEARTBEAT_MS: "1000", EDGEPATH_MEMBER_TTL_MS: "1500" })).toEqual([
      "EDGEPATH_MEMBER_TTL_MS: 1500 is less than 2 x EDGEPATH_HEARTBEAT_MS (2000)",
    ]);
    expect(errs({ EDGEPATH_HEARTBEAT_MS: "0" })).toEqual([expect.stringMatching(/^EDGEPATH_HEARTBEAT_MS: 0 is out of range/)]);
  });
});

describe("EDGEPATH_PUBLIC_ADVERTISE (edge behind NAT / a load balancer)", () => {
  it("is absent by default when no UDP listener is a wildcard", () => {
    expect(ok({ EDGEPATH_SIP_LISTEN: "udp:127.0.0.1:5060,tcp:0.0.0.0:5060" }).config.sip.publicAdvertise).toBeUndefined();
  });

  it("RFC 3261 §18.2.1: a wildcard UDP listener advertises the first external interface address, with a warning", () => {
    // Without it the edge's Via and Record-Route would say 0.0.0.0 (a UDP socket on a wildcard does
    // not learn which local address a datagram arrived on) and in-dialog requests would never come back.
    for (const role of ["all", "edge"] as const) {
      const { config, warnings } = ok(role === "edge" ? EDGE_ENV : {}, role);
      expect(config.sip.publicAdvertise).toEqual([{ transport: "udp", host: "192.0.2.44" }]);
      expect(warnings.find((w) => w.startsWith("EDGEPATH_PUBLIC_ADVERTISE: not set for the wildcard UDP listener udp:0.0.0.0:5060; advertising 192.0.2.44"))).toBeDefined();
    }
    // "::" is dual-stack and most UAs are IPv4: the external IPv4 address still comes first.
    expect(ok({ EDGEPATH_SIP_LISTEN: "udp:[::]:5060" }).config.sip.publicAdvertise).toEqual([{ transport: "udp", host: "192.0.2.44" }]);
    // An IPv6-only host: a global address before a unique-local one, never link-local.
    const v6only = { lo: INTERFACES.lo, eth0: [iface("fe80::1", "IPv6", false), iface("fd00::2", "IPv6", false), iface("2001:db8::44", "IPv6", false)] };
    const r6 = loadConfig({ EDGEPATH_SIP_LISTEN: "udp:[::]:5060" }, [], "all", { ...HOST, interfaces: () => v6only });
    expect(r6.ok && r6.config.sip.publicAdvertise).toEqual([{ transport: "udp", host: "2001:db8::44" }]);
    const ula = loadConfig({ EDGEPATH_SIP_LISTEN: "udp:[::]:5060" }, [], "all", { ...HOST, interfaces: () => ({ eth0: [iface("fd00::2", "IPv6", false)] }) });
    expect(ula.ok && ula.config.sip.publicAdvertise).toEqual([{ transport: "udp", host: "fd00::2" }]);
    // Only loopback: 127.0.0.1, and the warning says only local clients reach it.
    for (const listen of ["udp:0.0.0.0:5060", "udp:[::]:5060"]) {
      const loopbackOnly = loadConfig({ EDGEPATH_SIP_LISTEN: listen }, [], "all", { ...HOST, interfaces: () => ({ lo: INTERFACES.lo }) });
      expect(loopbackOnly.ok && loopbackOnly.config.sip.publicAdvertise).toEqual([{ transport: "udp", host: "127.0.0.1" }]);
      expect(loopbackOnly.ok && loopbackOnly.warnings.find((w) => w.includes("no external interface address; advertising 127.0.0.1, which only clients on this host can reach"))).toBeTruthy();
    }
    // A TLS-only entry does not cover UDP: kept, and the UDP one is added.
    const tls = { EDGEPATH_SIP_LISTEN: "udp:0.0.0.0:5060,tls:0.0.0.0:5061", EDGEPATH_TLS_CERT: "/c", EDGEPATH_TLS_KEY: "/k", EDGEPATH_PUBLIC_ADVERTISE: "tls:sip.example.com" };
    expect(ok(tls).config.sip.publicAdvertise).toEqual([{ transport: "tls", host: "sip.example.com" }, { transport: "udp", host: "192.0.2.44" }]);
    // An operator's value covering UDP is used as given, without a warning; registrars have no public side.
    const given = ok({ EDGEPATH_PUBLIC_ADVERTISE: "203.0.113.7" });
    expect(given.config.sip.publicAdvertise).toEqual([{ host: "203.0.113.7" }]);
    expect(given.warnings.some((w) => w.includes("wildcard UDP"))).toBe(false);
    expect(ok(REG_ENV, "registrar").config.sip.publicAdvertise).toBeUndefined();
  });

  it("takes host, host:port, [v6] and per-transport entries", () => {
    const env = { EDGEPATH_SIP_LISTEN: "udp:0.0.0.0:5060,tcp:0.0.0.0:5060,tls:0.0.0.0:5061", EDGEPATH_TLS_CERT: "/c", EDGEPATH_TLS_KEY: "/k" };
    expect(ok({ ...env, EDGEPATH_PUBLIC_ADVERTISE: "203.0.113.7" }).config.sip.publicAdvertise).toEqual([{ host: "203.0.113.7" }]);
    expect(ok({ ...env, EDGEPATH_PUBLIC_ADVERTISE: "SIP.Example.com:15060" }).config.sip.publicAdvertise).toEqual([{ host: "sip.example.com", port: 15060 }]);
    expect(ok({ ...env, EDGEPATH_PUBLIC_ADVERTISE: "[2001:db8::7]" }).config.sip.publicAdvertise).toEqual([{ host: "2001:db8::7" }]);
    expect(ok({ ...env, EDGEPATH_PUBLIC_ADVERTISE: "[203.0.113.7]" }).config.sip.publicAdvertise).toEqual([{ host: "203.0.113.7" }]);
    expect(ok({ ...env, EDGEPATH_PUBLIC_ADVERTISE: "udp:203.0.113.7:5060, tls:[2001:db8::7]:5061, 198.51.100.1" }).config.sip.publicAdvertise).toEqual([
      { transport: "udp", host: "203.0.113.7", port: 5060 },
      { transport: "tls", host: "2001:db8::7", port: 5061 },
      { host: "198.51.100.1" },
    ]);
  });

  it.each([
    ["0.0.0.0", /wildcard/],
    ["2001:db8::7", /need brackets/],
    ["[sip.example.com]", /not an IP address/],
    ["203.0.113.7:0", /bad port/],
    ["203.0.113.7:99999", /bad port/],
    ["bad_host!", /not a valid host/],
    ["udp:5060", /not a valid host/],
    ["a.example.com,b.example.com", /given twice/],
    ["tls:203.0.113.7", /no tls listener in EDGEPATH_SIP_LISTEN/],
  ])("refuses %s with the setting's name", (value, why) => {
    const e = errs({ EDGEPATH_PUBLIC_ADVERTISE: value });
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^EDGEPATH_PUBLIC_ADVERTISE: /);
    expect(e[0]).toMatch(why);
  });

  it("refuses an internal address that is also a public one (the edge tells its sides apart by address)", () => {
    const env = { ...EDGE_ENV, EDGEPATH_SIP_LISTEN: "udp:10.0.0.5:5070,tcp:10.0.0.5:5060" };
    const e = errs(env, "edge");
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^EDGEPATH_ADVERTISE: 10\.0\.0\.5:5070 is also a public listener/);
    const adv = errs({ ...EDGE_ENV, EDGEPATH_SIP_LISTEN: "udp:0.0.0.0:5060", EDGEPATH_ADVERTISE: "203.0.113.7:5060", EDGEPATH_PUBLIC_ADVERTISE: "203.0.113.7" }, "edge");
    expect(adv.some((x) => /^EDGEPATH_ADVERTISE: 203\.0\.113\.7:5060 is also a public address/.test(x))).toBe(true);
    // Port 0 (the OS picks) never clashes, as in all-mode's default 127.0.0.1:0 with 127.0.0.1:0 listeners.
    expect(ok({ EDGEPATH_SIP_LISTEN: "udp:127.0.0.1:0,tcp:127.0.0.1:0" }).config.sip.internalListen).toEqual({ host: "127.0.0.1", port: 0 });
    // Same host, other port: fine.
    expect(ok({ ...EDGE_ENV, EDGEPATH_SIP_LISTEN: "udp:10.0.0.5:5060" }, "edge").config.sip.advertise).toEqual({ host: "10.0.0.5", port: 5070 });
  });

  it("warns on a registrar, which has no public side", () => {
    const { warnings } = ok({ ...REG_ENV, EDGEPATH_PUBLIC_ADVERTISE: "203.0.113.7" }, "registrar");
    expect(warnings).toContain("EDGEPATH_PUBLIC_ADVERTISE: only used by edges");
  });
});

describe("UDP OPTIONS pinging (DESIGN §3, RFC 3261 §11)", () => {
  it("is off by default; the timeout defaults to 3 x the interval", () => {
    expect(ok({}).config.reachability).toEqual({ udpPingIntervalMs: 0, udpPingTimeoutMs: 0 });
    expect(ok({ EDGEPATH_UDP_PING_INTERVAL_MS: "20000" }).config.reachability).toEqual({ udpPingIntervalMs: 20000, udpPingTimeoutMs: 60000 });
    expect(ok({ ...EDGE_ENV, EDGEPATH_UDP_PING_INTERVAL_MS: "15000", EDGEPATH_UDP_PING_TIMEOUT_MS: "40000" }, "edge").config.reachability).toEqual({
      udpPingIntervalMs: 15000,
      udpPingTimeoutMs: 40000,
    });
  });

  it("bad intervals and a timeout not above the interval are refused with the setting's name", () => {
    expect(errs({ EDGEPATH_UDP_PING_INTERVAL_MS: "50" })).toEqual(["EDGEPATH_UDP_PING_INTERVAL_MS: 50 is out of range (0 = off, or 100..3600000)"]);
    expect(errs({ EDGEPATH_UDP_PING_INTERVAL_MS: "often" })).toEqual([expect.stringMatching(/^EDGEPATH_UDP_PING_INTERVAL_MS: "often" is not an integer/)]);
    expect(errs({ EDGEPATH_UDP_PING_INTERVAL_MS: "1000", EDGEPATH_UDP_PING_TIMEOUT_MS: "1000" })).toEqual([
      "EDGEPATH_UDP_PING_TIMEOUT_MS: 1000 is not more than EDGEPATH_UDP_PING_INTERVAL_MS (1000)",
    ]);
    expect(errs({ EDGEPATH_UDP_PING_TIMEOUT_MS: "5" })).toEqual([expect.stringMatching(/^EDGEPATH_UDP_PING_TIMEOUT_MS: 5 is out of range/)]);
  });
});
