#!/usr/bin/env node
/**
 * Process entry point.
 *   rollcall serve [service...]   all services + gateway in one process (default), or the ones named
 *   rollcall migrate [service...] apply database migrations and exit
 */
import { ConfigError, SERVICE_NAMES, loadConfig, type ServiceName } from "./runtime/config.js";
import { createLogger } from "./runtime/logger.js";
import { startHost } from "./runtime/host.js";
import { migrateOnly } from "./runtime/migrate.js";
import { SERVICE_MODULES } from "./modules.js";

const USAGE = `usage:
  rollcall serve [${SERVICE_NAMES.join("|")}|gateway ...]   run the named services (default: all of them and the gateway)
  rollcall migrate [service ...]                              apply database migrations and exit
Configuration comes from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...names] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const wanted = names.length === 0 ? [...SERVICE_NAMES, "gateway"] : names;
  const unknown = wanted.filter((n) => n !== "gateway" && !SERVICE_NAMES.includes(n as ServiceName));
  if (unknown.length > 0) {
    console.error(`unknown service ${unknown.join(", ")}; expected ${SERVICE_NAMES.join(", ")} or gateway`);
    return 2;
  }
  const modules = SERVICE_MODULES.filter((m) => wanted.includes(m.name));

  if (command === "migrate") {
    await migrateOnly(config, modules, logger);
    return 0;
  }
  if (command !== "serve") {
    console.error(`unknown command ${command}\n${USAGE}`);
    return 2;
  }

  const host = await startHost(config, modules, { gateway: wanted.includes("gateway"), gatewayModules: SERVICE_MODULES, logger });
  logger.info(
    { services: modules.map((m) => m.name), grpc: host.grpcPort, admin: host.adminPort, gateway: host.gatewayPort },
    "rollcall is serving",
  );
  console.log(
    `Rollcall is up.\n  gRPC     ${config.host}:${host.grpcPort}\n  admin    http://${config.host}:${host.adminPort}/metrics /healthz /readyz` +
      (host.gatewayPort ? `\n  gateway  http://${config.host}:${host.gatewayPort} (Connect JSON, gRPC-Web)` : "") +
      `\nPress Ctrl-C to stop.`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "stopping: draining calls in flight");
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await host.stop();
  logger.info("stopped");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
