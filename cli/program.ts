import { Command } from "commander";
import { EXIT_CODES_HELP } from "./exit-codes.js";
import { DEFAULT_ADDR } from "./connection.js";
import { sessionCommands } from "./commands/session.js";
import { orgCommand } from "./commands/org.js";
import { userCommand } from "./commands/user.js";
import { grantCommand, roleCommand } from "./commands/role.js";
import { deviceCommand } from "./commands/device.js";
import { checkCommand } from "./commands/check.js";
import { enrolCommand } from "./commands/enrol.js";
import { attendanceCommand } from "./commands/attendance.js";
import { eventsCommand } from "./commands/events.js";
import { auditCommand } from "./commands/audit.js";
import { serveCommands } from "./commands/serve.js";
import { agentCommand } from "./commands/agent.js";

const ENVIRONMENT_HELP = `Environment:
  ROLLCALL_ADDR     gRPC address of the mesh (default ${DEFAULT_ADDR}, as \`npm start\` serves it)
  ROLLCALL_TOKEN    access token to use instead of the saved session
  ROLLCALL_CONFIG   session file (default $XDG_CONFIG_HOME/rollcall/config.json or ~/.config/rollcall/config.json)
  ROLLCALL_TIMEOUT  seconds to wait for each call (default 30)
  ROLLCALL_PASSWORD password for \`rollcall login\` (else --password-stdin, else a prompt)`;

/** Stands in for the agent in help listings, so other commands do not load the agent package. */
function agentPlaceholder(): Command {
  return new Command("agent").description("run the edge camera agent on a camera, stream, video file or folder of frames (rollcall agent --help)");
}

/**
 * The whole command tree; each group lives in its own module under commands/. The agent's
 * command (from agent/) is loaded only when it is the command being run.
 */
export async function buildProgram(argv: readonly string[] = process.argv.slice(2)): Promise<Command> {
  const program = new Command("rollcall")
    .description("operate a Rollcall mesh: organisations, users, roles, devices, enrolment, attendance and audit")
    .option("--addr <host:port>", "gRPC address of the mesh (env ROLLCALL_ADDR)")
    .option("--token <jwt>", "access token (env ROLLCALL_TOKEN; default: the session saved by `rollcall login`)")
    .option("--timeout <seconds>", "seconds to wait for each call (env ROLLCALL_TIMEOUT, default 30)")
    .option("--json", "print results as JSON (errors as JSON on stderr)")
    .showHelpAfterError("(add --help for usage)")
    .addHelpText("after", `\n${ENVIRONMENT_HELP}\n\n${EXIT_CODES_HELP}`);
  const agent = argv.includes("agent") ? await agentCommand() : agentPlaceholder();
  const commands = [
    ...serveCommands(), agent, ...sessionCommands(), orgCommand(), userCommand(), roleCommand(), grantCommand(), deviceCommand(),
    checkCommand(), enrolCommand(), attendanceCommand(), eventsCommand(), auditCommand(),
  ];
  for (const command of commands) program.addCommand(command);
  return program;
}
