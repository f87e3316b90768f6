import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { SERVICE_NAMES } from "../../services/runtime/config.js";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** tsx from this checkout, whatever the working directory is. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** Runs services/main.ts (the mesh's own entry point) with this terminal, passing signals on. */
function runMain(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, path.join(REPO, "services", "main.ts"), ...args], { stdio: "inherit" });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code ?? (signal ? 0 : 1));
    });
  });
}

/** rollcall serve / rollcall migrate: the mesh itself, as `npm start` runs it. */
export function serveCommands(): Command[] {
  const names = [...SERVICE_NAMES, "gateway"].join(", ");
  const serve = new Command("serve")
    .argument("[service...]", `services to run: ${names} (default: all of them and the gateway)`)
    .description("run the mesh in this process (configured by environment variables, see README.md); Ctrl-C drains and stops")
    .action(async (services: string[]) => {
      process.exitCode = await runMain(["serve", ...services]);
    });
  const migrate = new Command("migrate")
    .argument("[service...]", `services whose migrations to apply: ${SERVICE_NAMES.join(", ")} (default: all)`)
    .description("apply database migrations and exit")
    .action(async (services: string[]) => {
      process.exitCode = await runMain(["migrate", ...services]);
    });
  return [serve, migrate];
}
