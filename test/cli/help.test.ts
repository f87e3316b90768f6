import assert from "node:assert/strict";
import { Command, CommanderError } from "commander";
import { buildProgram } from "../../cli/program.js";
import { exitCodeOf, EXIT } from "../../cli/exit-codes.js";
import { status } from "@grpc/grpc-js";
import { CliRunner } from "./support.js";

/** Every command path of the tree, e.g. ["user", "import"]. */
function paths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

function quiet(command: Command, sink: string[]): void {
  command.exitOverride().configureOutput({ writeOut: (s) => sink.push(s), writeErr: (s) => sink.push(s) });
  command.commands.forEach((c) => quiet(c, sink));
}

describe("rollcall CLI: help and exit codes", function () {
  this.timeout(60_000);

  it("answers --help on every subcommand with exit 0 and a description", async () => {
    const all = paths(await buildProgram([]));
    assert.ok(all.length >= 40, `only ${all.length} commands`);
    for (const path of all) {
      const output: string[] = [];
      const program = await buildProgram([]);
      quiet(program, output);
      await assert.rejects(program.parseAsync(["node", "rollcall", ...path, "--help"]), (err: CommanderError) => {
        assert.equal(err.exitCode, 0, `${path.join(" ")} --help`);
        return true;
      });
      const text = output.join("");
      assert.match(text, new RegExp(`Usage: rollcall ${path.join(" ")}`), path.join(" "));
      assert.ok(text.split("\n").some((line) => line.trim().length > 0 && !line.startsWith("Usage") && !line.includes("--help")), `${path.join(" ")} has no description`);
    }
  });

  it("maps gRPC status codes to documented exit codes in one place", () => {
    assert.equal(exitCodeOf(status.OK), EXIT.OK);
    assert.equal(exitCodeOf(status.INVALID_ARGUMENT), 1);
    assert.equal(exitCodeOf(status.NOT_FOUND), 2);
    assert.equal(exitCodeOf(status.PERMISSION_DENIED), 3);
    assert.equal(exitCodeOf(status.UNAVAILABLE), 4);
    assert.equal(exitCodeOf(status.DEADLINE_EXCEEDED), 4);
    assert.equal(exitCodeOf(status.UNAUTHENTICATED), 5);
    assert.equal(exitCodeOf(status.ALREADY_EXISTS), 6);
    assert.equal(exitCodeOf(status.FAILED_PRECONDITION), 6);
    assert.equal(exitCodeOf(status.UNIMPLEMENTED), 8);
    assert.equal(exitCodeOf(status.INTERNAL), 9);
  });

  it("exits 1 with usage for unknown options and missing arguments, through the real launcher", async () => {
    const cli = await CliRunner.create("127.0.0.1:1");
    try {
      const help = await cli.run(["--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Exit codes:/);
      const unknown = await cli.run(["user", "list", "--bogus"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /unknown option '--bogus'/);
      const missing = await cli.run(["device", "add", "door"]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /--direction/);
      const group = await cli.run(["role"]);
      assert.equal(group.code, 1);
      assert.match(group.stderr, /Usage: rollcall role/);
    } finally {
      await cli.dispose();
    }
  });
});
