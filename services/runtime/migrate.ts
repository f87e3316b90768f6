import { mkdir } from "node:fs/promises";
import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import { openDatabase, startEmbeddedPostgres } from "./db/index.js";
import type { ServiceModule } from "./service-module.js";

/** `rollcall migrate`: what a Kubernetes Job runs before new pods serve. */
export async function migrateOnly(config: Config, modules: readonly ServiceModule[], logger: Logger): Promise<void> {
  if (!config.databaseUrl) await mkdir(config.dataDir, { recursive: true });
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(`${config.dataDir}/pglite`);
  const db = await openDatabase({ url: config.databaseUrl ?? embedded!.url, logger, applicationName: "rollcall-migrate" });
  try {
    for (const module of modules) await db.migrate(module.name, module.migrations);
  } finally {
    await db.close();
    await embedded?.stop();
  }
}
