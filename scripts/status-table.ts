/** Regenerates the status table in README.md from the handlers the services register. */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../services/runtime/config.js";
import { startHost } from "../services/runtime/host.js";
import { createLogger } from "../services/runtime/logger.js";
import { statusTable, withStatusTable } from "../services/runtime/status-table.js";
import { SERVICE_MODULES } from "../services/modules.js";

const dataDir = await mkdtemp(join(tmpdir(), "rollcall-status-"));
const host = await startHost(
  loadConfig({ ROLLCALL_GRPC_PORT: "0", ROLLCALL_ADMIN_PORT: "0", ROLLCALL_DATA_DIR: dataDir }),
  SERVICE_MODULES,
  { gateway: false, logger: createLogger("silent") },
);
try {
  const readme = new URL("../README.md", import.meta.url);
  await writeFile(readme, withStatusTable(await readFile(readme, "utf8"), statusTable(host.server.methodStatus())));
  console.log("README.md status table updated");
} finally {
  await host.stop();
  await rm(dataDir, { recursive: true, force: true });
}
