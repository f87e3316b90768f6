import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TLS_FILES } from "../../services/runtime/grpc/mesh-transport.js";

const MAIN = fileURLToPath(new URL("../../services/main.ts", import.meta.url));

export interface Replica {
  grpcPort: number;
  adminPort: number;
  process: ChildProcess;
  /** SIGKILL: no draining, connections just drop (a crashed pod or a lost node). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One process of the mesh as a pod runs it (`services/main.ts serve <names>`), on ports the OS
 * picks; resolves once it prints that it serves.
 */
export function startReplica(names: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Replica> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "serve", ...names], {
    env: { ...process.env, ROLLCALL_GRPC_PORT: "0", ROLLCALL_ADMIN_PORT: "0", ROLLCALL_GATEWAY_PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const waitExit = () => new Promise<void>((resolve) => (exited() ? resolve() : child.once("exit", () => resolve())));
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`replica ${names.join("+")} did not start within ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const grpc = /gRPC\s+\S+:(\d+)/.exec(out);
      const admin = /admin\s+http:\/\/\S+?:(\d+)\//.exec(out);
      if (!grpc || !admin) return;
      clearTimeout(timer);
      resolve({
        grpcPort: Number(grpc[1]),
        adminPort: Number(admin[1]),
        process: child,
        async kill() {
          child.kill("SIGKILL");
          await waitExit();
        },
        async stop() {
          if (exited()) return;
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await waitExit();
          clearTimeout(killer);
        },
      });
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`replica ${names.join("+")} exited (${code ?? signal}) before serving:\n${out}\n${err}`));
    });
  });
}

/**
 * A Secret mounted as the kubelet does it: the files are symlinks through `..data`, which is
 * swapped atomically on update, so a reader never sees a new certificate with the old key.
 */
export class MountedSecret {
  private version = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Publishes the files of `source` (tls.crt, tls.key, ca.crt) as the Secret's new content. */
  update(source: string): void {
    const link = join(this.dir, `..data_tmp${this.version++}`);
    symlinkSync(source, link);
    renameSync(link, join(this.dir, "..data"));
    if (this.version === 1) {
      for (const file of Object.values(TLS_FILES)) symlinkSync(join("..data", file), join(this.dir, file));
    }
  }
}
