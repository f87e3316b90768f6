/**
 * The audit service alone in its own process (the benchmark kills it with SIGKILL mid-ingest and
 * starts it again). Database, bus namespace and batch settings come from the parent's environment.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditModule } from "../../services/audit/module.js";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost } from "../../services/runtime/host.js";
import { createLogger } from "../../services/runtime/logger.js";
import { report } from "../lib/child.js";
import { profilePhases } from "../lib/profile.js";

const config = loadConfig({
  ...process.env,
  ROLLCALL_GRPC_PORT: "0",
  ROLLCALL_ADMIN_PORT: "0",
  ROLLCALL_DATA_DIR: await mkdtemp(join(tmpdir(), "rollcall-bench-audit-")),
  LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
});
profilePhases(`audit-${process.pid}`);
const host = await startHost(config, [auditModule], { gateway: false, logger: createLogger(config.logLevel) });
report.ready({ grpcPort: host.grpcPort });
process.once("SIGTERM", () => void host.stop().then(() => process.exit(0)));
