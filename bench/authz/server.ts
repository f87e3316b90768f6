/**
 * One authz replica for the gRPC benchmark, in its own process: the real host (auth interceptor
 * with JWKS and revocation list, metrics, Postgres, cache, bus) serving only the authz module.
 * Configured by the environment the parent passes; reports its gRPC and admin (metrics) ports,
 * then its CPU time per phase ({phase: "start" | "end"}).
 */
import { authzModule } from "../../services/authz/module.js";
import { loadConfig } from "../../services/runtime/config.js";
import { startHost } from "../../services/runtime/host.js";
import { report, serveCpuPhases } from "../lib/child.js";
import { profilePhases } from "../lib/profile.js";

const host = await startHost(loadConfig(), [authzModule], { gateway: false });
serveCpuPhases();
profilePhases(`authz-${process.pid}`);
process.on("SIGTERM", () => void host.stop().finally(() => process.exit(0)));
report.ready({ grpcPort: host.grpcPort, adminPort: host.adminPort });
