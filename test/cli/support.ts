import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
export { closedPort } from "../support/ports.js";

export const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const ROLLCALL_BIN = path.join(REPO, "cli", "bin", "rollcall.mjs");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
}

/** The real `rollcall` launcher as a child process, with its own session file. */
export class CliRunner {
  private constructor(readonly addr: string, readonly dir: string, readonly configFile: string) {}

  static async create(addr: string): Promise<CliRunner> {
    const dir = await mkdtemp(path.join(tmpdir(), "rollcall-cli-"));
    return new CliRunner(addr, dir, path.join(dir, "config", "rollcall.json"));
  }

  /** Another runner on the same mesh with a separate session (another person's terminal). */
  async other(): Promise<CliRunner> {
    return CliRunner.create(this.addr);
  }

  run(args: string[], options: RunOptions = {}): Promise<CliResult> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: this.dir,
      ROLLCALL_ADDR: this.addr,
      ROLLCALL_CONFIG: this.configFile,
      ...options.env,
    };
    return runProcess(process.execPath, [ROLLCALL_BIN, ...args], { env, input: options.input, cwd: REPO });
  }

  /** Runs and insists on exit 0, showing stderr when it is not. */
  async ok(args: string[], options: RunOptions = {}): Promise<CliResult> {
    const result = await this.run(args, options);
    if (result.code !== 0) throw new Error(`rollcall ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result;
  }

  async json<T>(args: string[], options: RunOptions = {}): Promise<T> {
    return JSON.parse((await this.ok(["--json", ...args], options)).stdout) as T;
  }

  async login(user: string, password: string, org = "default"): Promise<void> {
    await this.ok(["login", "--org", org, "--user", user], { env: { ROLLCALL_PASSWORD: password } });
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function runProcess(command: string, args: string[], options: { env: Record<string, string>; input?: string; cwd: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}
