import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "../../../gen/rollcall/identity/v1/auth_pb.js";
import { createClient, type RpcClient } from "../../../services/runtime/grpc/client.js";
import { openTestDatabase, type TestDatabase } from "../../support/database.js";
import { OwnNatsServer, waitFor } from "../../agent/support/nats-server.js";
import { freePorts } from "../../support/ports.js";
import { MODELS_DIR } from "../../agent/support/frames.js";

const REPO = path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const ADMIN_EMAIL = "admin@default.rollcall.local";
export const ADMIN_PASSWORD = "e2e-Bootstrap-passw0rd!";

/** One `rollcall serve <services>` process on fixed ports, so it can be killed and started again as the same address. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private output = "";
  restarts = 0;

  constructor(readonly name: string, readonly services: string[], readonly grpcPort: number, readonly adminPort: number, private readonly env: Record<string, string>) {}

  get target(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, ["--import", "tsx", "services/main.ts", "serve", ...this.services], {
      cwd: REPO,
      env: { ...process.env, ...this.env, ROLLCALL_GRPC_PORT: String(this.grpcPort), ROLLCALL_ADMIN_PORT: String(this.adminPort) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.output = "";
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.child = child;
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}:\n${this.output}`);
      return fetch(`http://127.0.0.1:${this.adminPort}/readyz`).then((r) => r.ok, () => false);
    }, `${this.name} to be ready`, 120_000);
  }

  /** SIGKILL: no draining, no acks of what was in flight. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill9();
    this.restarts++;
    await this.start();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }

  get log(): string {
    return this.output;
  }
}

export interface E2eMesh {
  nats: OwnNatsServer;
  namespace: string;
  core: ServiceProcess;
  vision: ServiceProcess;
  attendance: ServiceProcess;
  adminToken(): Promise<string>;
  client<S extends DescService>(service: S, target: string, bearer?: string): RpcClient<S>;
  stop(): Promise<void>;
}

/**
 * The mesh as separate processes, as production runs it: identity + authz + audit, vision,
 * attendance; one fresh Postgres database, the shared Redis under a key prefix of its own, and a
 * NATS server of its own (so stopping it disturbs no one else). Needs DATABASE_URL and REDIS_URL.
 */
export async function startE2eMesh(env: Record<string, string> = {}): Promise<E2eMesh> {
  const [database, nats] = await Promise.all([openTestDatabase(), OwnNatsServer.start()]) as [TestDatabase, OwnNatsServer];
  const dataDir = await mkdtemp(path.join(tmpdir(), "rollcall-e2e-"));
  const free = await freePorts(6);
  const ports = { core: free.slice(0, 2), vision: free.slice(2, 4), attendance: free.slice(4, 6) };
  const namespace = `e2e${process.pid}x${randomBytes(3).toString("hex")}`;
  const shared: Record<string, string> = {
    DATABASE_URL: database.url,
    REDIS_URL: process.env.REDIS_URL!,
    NATS_URL: nats.url,
    ROLLCALL_BUS_NAMESPACE: namespace,
    ROLLCALL_CACHE_PREFIX: `${namespace}:`,
    ROLLCALL_SERVICE_SECRET: randomBytes(32).toString("base64url"),
    ROLLCALL_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ROLLCALL_IDENTITY_ADDR: `127.0.0.1:${ports.core[0]}`,
    ROLLCALL_AUTHZ_ADDR: `127.0.0.1:${ports.core[0]}`,
    ROLLCALL_AUDIT_ADDR: `127.0.0.1:${ports.core[0]}`,
    ROLLCALL_VISION_ADDR: `127.0.0.1:${ports.vision[0]}`,
    ROLLCALL_ATTENDANCE_ADDR: `127.0.0.1:${ports.attendance[0]}`,
    ROLLCALL_JWKS_URL: `http://127.0.0.1:${ports.core[1]}/.well-known/jwks.json`,
    ROLLCALL_MODELS_DIR: MODELS_DIR,
    ROLLCALL_SHUTDOWN_GRACE_MS: "1000",
    // Frames replayed from an agent's spool after an outage are minutes old, and still count.
    ROLLCALL_VISION_STALE_FRAME_MS: "600000",
    ROLLCALL_ATTENDANCE_DIRECTORY_CACHE_MS: "0",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    ...env,
  };
  const make = (name: keyof typeof ports, services: string[]) =>
    new ServiceProcess(name, services, ports[name][0]!, ports[name][1]!, { ...shared, ROLLCALL_DATA_DIR: path.join(dataDir, name) });
  const core = make("core", ["identity", "authz", "audit"]);
  const vision = make("vision", ["vision"]);
  const attendance = make("attendance", ["attendance"]);
  const clients: { close(): void }[] = [];
  const mesh: E2eMesh = {
    nats,
    namespace,
    core,
    vision,
    attendance,
    async adminToken() {
      const auth = mesh.client(AuthService, core.target);
      return (await auth.login({ organizationCode: "default", login: ADMIN_EMAIL, password: ADMIN_PASSWORD })).tokens!.accessToken;
    },
    client(service, target, bearer) {
      const c = createClient(service, target, { bearer: () => bearer, defaultTimeoutMs: 30_000 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await Promise.all([attendance.stop(), vision.stop()]);
      await core.stop();
      await nats.stop();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await core.start();
    await Promise.all([vision.start(), attendance.start()]);
  } catch (err) {
    await mesh.stop().catch(() => {});
    throw err;
  }
  return mesh;
}
