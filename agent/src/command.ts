import { Command, Option } from "commander";
import { EXIT, EXIT_CODES_HELP, exitCodeOf } from "../../cli/exit-codes.js";
import { AppError } from "../../services/runtime/errors.js";
import { ConfigError } from "../../services/runtime/config.js";
import { loadAgentConfig, OPTIONS, type AgentConfig, type OptionName, type RawOptions } from "./config.js";
import { DeviceTokenError } from "./transport/device-token.js";

/**
 * `rollcall agent`: the edge camera agent as a commander command (the CLI mounts it; agent/bin
 * runs it alone). Every option is also read from its environment variable; flags win.
 */
export function agentCommand(name = "agent"): Command {
  const command = new Command(name)
    .description(
      "Edge camera agent: reads a camera, stream, video file or image directory through OpenCV, skips still frames, " +
        "detects faces (YuNet), tracks them and sends the best few crops of each person to vision with the device's token, " +
        "over NATS JetStream (--transport nats, with heartbeats) or vision's gRPC StreamFrames (--transport grpc --vision-addr " +
        "host:port, no heartbeats); spools to disk while offline. The device token comes from the public gateway (--gateway-url, " +
        "in a cluster) or from identity's gRPC address (--identity, development). Serves /metrics, /healthz, /readyz; SIGTERM stops cleanly.",
    )
    .showHelpAfterError("(rollcall agent --help lists every option)")
    .addHelpText("after", `\n${EXIT_CODES_HELP}`);
  const attributes = new Map<string, OptionName>();
  for (const [key, spec] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    const defaultText = "default" in spec && spec.default !== undefined ? `; default ${spec.default}` : "";
    const option = new Option(spec.flag, `${spec.description} [env ${spec.env}${defaultText}]`);
    attributes.set(option.attributeName(), key);
    command.addOption(option);
  }
  command.action(async (flags: Record<string, string | undefined>) => {
    const raw: RawOptions = {};
    for (const [attribute, value] of Object.entries(flags)) {
      const key = attributes.get(attribute);
      if (key) raw[key] = value;
    }
    let config: AgentConfig;
    try {
      config = loadAgentConfig(raw);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return command.error(`rollcall agent: ${err.message}\n(--help explains every option)`, { exitCode: EXIT.USAGE, code: "rollcall.agent.config" });
    }
    await runAgent(config);
  });
  return command;
}

/** Runs until a file or directory source ends (live sources reconnect) or SIGTERM/SIGINT; exit code 1 if capture failed, the status's code if it could not start. */
async function runAgent(config: AgentConfig): Promise<void> {
  // Imported here so `--help` and config errors need neither OpenCV nor the models.
  const { Agent } = await import("./agent.js");
  let agent: Awaited<ReturnType<typeof Agent.start>>;
  try {
    agent = await Agent.start(config);
  } catch (err) {
    // A refused device, a missing camera, a stream that will not open: a message and the exit
    // code of its status (the CLI's table), never a stack trace.
    if (!(err instanceof DeviceTokenError || err instanceof AppError)) throw err;
    process.stderr.write(`rollcall agent: cannot start: ${err.message}\n`);
    process.exitCode = exitCodeOf(err.code);
    return;
  }
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`rollcall agent: ${signal}: finishing in-flight messages (up to ${config.shutdownGraceMs} ms), spooling the rest\n`);
    void agent.stop();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  await agent.done;
  await agent.stop();
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  if (agent.failure) {
    process.stderr.write(`rollcall agent: capture failed: ${agent.failure.message}\n`);
    process.exitCode = 1;
  }
}
