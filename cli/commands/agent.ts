import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import type { DeviceCredentials } from "./device.js";

const AGENT_DIR = path.resolve(fileURLToPath(new URL("../../agent", import.meta.url)));
const INSTALL = "npm --prefix agent install   (from the checkout; the agent needs OpenCV: @u4/opencv4nodejs)";

/** The agent's native dependency is installed in agent/ (its own npm package). */
function openCvInstalled(): boolean {
  try {
    createRequire(path.join(AGENT_DIR, "package.json")).resolve("@u4/opencv4nodejs");
    return true;
  } catch {
    return false;
  }
}

function notInstalled(reason: string): Command {
  return new Command("agent")
    .description("run the edge camera agent (not installed here)")
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(() => {
      process.stderr.write(`rollcall: the edge agent is not installed (${reason}).\n  install it with: ${INSTALL}\n`);
      process.exitCode = EXIT.UNAVAILABLE;
    });
}

/**
 * `rollcall agent`: the agent package's own command, plus --credentials <file> to take the
 * device id, secret and mesh address from `rollcall device add --save <file>`.
 */
export async function agentCommand(): Promise<Command> {
  let build: (name?: string) => Command;
  try {
    ({ agentCommand: build } = (await import(path.join(AGENT_DIR, "src", "command.ts"))) as { agentCommand: (name?: string) => Command });
  } catch (err) {
    return notInstalled(`agent/src/command.ts could not be loaded: ${(err as Error).message.split("\n")[0]}`);
  }
  const command = build("agent")
    .option("--credentials <file>", "device credentials written by `rollcall device add --save <file>` (sets the device id, secret, and identity and vision addresses unless given)");
  command.hook("preAction", async (cmd) => {
    if (!openCvInstalled()) {
      process.stderr.write(`rollcall: the edge agent's OpenCV binding is not installed.\n  install it with: ${INSTALL}\n`);
      process.exit(EXIT.UNAVAILABLE);
    }
    const file = cmd.opts<{ credentials?: string }>().credentials;
    if (!file) return;
    const credentials = JSON.parse(await readFile(file, "utf8")) as DeviceCredentials;
    process.env.ROLLCALL_DEVICE_ID ??= credentials.deviceId;
    process.env.ROLLCALL_DEVICE_SECRET ??= credentials.secret;
    process.env.ROLLCALL_IDENTITY_ADDR ??= credentials.addr;
    // The mesh address the device was registered through also serves vision in the all-in-one
    // mesh; --vision-addr still wins (a deployment routes vision elsewhere).
    process.env.ROLLCALL_VISION_ADDR ??= credentials.addr;
    process.env.ROLLCALL_ORGANIZATION_ID ??= credentials.organizationId;
  });
  return command;
}
