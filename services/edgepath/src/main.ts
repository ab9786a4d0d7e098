#!/usr/bin/env node
/**
 * The edgepath command (DESIGN §5): `edgepath all | edge | registrar | ctl ...`.
 * Configuration is read once here, validated, and a bad value exits 2 naming the setting.
 */
import { loadConfig, type Role } from "@edgepath/config";
import { createLogger } from "./logger.js";
import { runAll, type RunningSystem } from "./compose.js";
import { runCtl } from "./ctl.js";
import { processDrain } from "./admin-http.js";
import { startTelemetry } from "@edgepath/telemetry";

const USAGE = `usage: edgepath <command> [--flags]
  all         one edge + N registrar workers in one process (embedded store and bus)
  edge        a stateless edge proxy (needs NATS_URL)
  registrar   a registrar / location proxy worker (needs REDIS_URL and NATS_URL)
  ctl         admin client: ctl aor <aor> | ctl ring | ctl flows   [--url=http://127.0.0.1:8080]
              credentials: ctl user add <aor> [<password>|-] | ctl user rm <aor>   (REDIS_URL, else the embedded system via --url)
  help        this text and the settings`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "ctl") return runCtl(rest, process.env);
  if (command === undefined || command === "help" || command === "--help") {
    const { describeSettings } = await import("@edgepath/config");
    console.log(USAGE);
    console.log("\nsettings (env / flag):");
    for (const s of describeSettings()) console.log(`  ${s.name} (${s.flag})${s.default !== undefined ? ` [${s.default}]` : ""}\n      ${s.help}`);
    return command === undefined ? 2 : 0;
  }
  if (command !== "all" && command !== "edge" && command !== "registrar") {
    console.error(`edgepath: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const role: Role = command;
  const loaded = loadConfig(process.env, rest, role);
  if (!loaded.ok) {
    console.error(`edgepath ${role}: invalid configuration`);
    for (const e of loaded.errors) console.error(`  ${e}`);
    return 2;
  }
  const config = loaded.config;
  const logger = createLogger(config.logLevel, { role, node: config.nodeId });
  for (const w of loaded.warnings) logger.warn(w);
  // DESIGN §5: the OpenTelemetry SDK is set up once, here, before any service exists. Standard
  // OTEL_* variables; off (nothing loaded) without OTEL_EXPORTER_OTLP_ENDPOINT; never throws.
  const telemetry = await startTelemetry({
    env: process.env,
    serviceName: `edgepath-${role}`,
    serviceInstanceId: config.nodeId,
    onWarning: (msg, err) => logger.warn({ err }, msg),
  });
  if (telemetry.enabled) logger.info({ otlp: telemetry.tracesUrl, service: telemetry.serviceName }, "edgepath: tracing on");

  let system: RunningSystem;
  try {
    if (role === "all") system = await runAll(config, logger);
    else {
      const { runEdge, runRegistrar } = await import("./cluster-roles.js");
      system = role === "edge" ? await runEdge(config, logger) : await runRegistrar(config, logger);
    }
  } catch (err) {
    logger.fatal({ err }, "edgepath: failed to start");
    return 1;
  }
  logger.info({ sip: system.sipListeners, internal: system.internal, http: system.http }, "edgepath: ready");
  // A line tests and scripts can wait for.
  process.stdout.write(`${JSON.stringify({ msg: "edgepath-ready", sip: system.sipListeners, http: system.http, internal: system.internal })}\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      // DESIGN §5: /readyz answers 503 from this moment in every role, before anything stops.
      processDrain.begin();
      logger.info({ signal }, "edgepath: shutting down");
      const timer = setTimeout(() => {
        logger.error("edgepath: shutdown took too long, exiting");
        resolve(1);
      }, 15_000);
      timer.unref();
      system.stop(signal === "SIGTERM").then(
        () => void telemetry.shutdown().then(() => resolve(0)),
        (err: unknown) => {
          logger.error({ err }, "edgepath: error during shutdown");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
