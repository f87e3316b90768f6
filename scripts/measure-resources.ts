/**
 * CPU and memory of attendance, audit, the gateway and the edge agent, each in its own process as a pod runs it
 * (compiled JS, `node dist/services/main.js serve <name>`), on real Postgres, Redis and NATS,
 * idle and under load; the figures behind their requests and limits in k8s/base/*.yaml.
 * identity + authz run in one more process (not measured here: bench:identity, bench:authz).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 NATS_URL=nats://127.0.0.1:4222 \
 *     node --import tsx scripts/measure-resources.ts [--events 20000] [--audit-events 50000] [--seconds 20] [--agent-seconds 120]
 *
 * Loads: attendance ingests --events recognitions queued on RECOGNITIONS, then answers GetToday
 * (32 in flight) for --seconds; audit ingests --audit-events from AUDIT; the gateway forwards
 * Connect JSON GetToday calls (32 in flight, bearer token) for --seconds; the agent (needs
 * agent/node_modules, the OpenCV binding; --agent-seconds 0 skips it) takes its device token from
 * the gateway and watches a door at 10 frames/s (a looped directory of 640x480 frames, people
 * walking by between empty frames, paced in real time), publishing crops to NATS. CPU is from
 * /proc/<pid>/stat (user + system), RSS from /proc/<pid>/status, sampled every 250 ms.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AttendanceService } from "../gen/rollcall/attendance/v1/attendance_pb.js";
import { DeviceDirection, DeviceService } from "../gen/rollcall/identity/v1/device_pb.js";
import { AuthService } from "../gen/rollcall/identity/v1/auth_pb.js";
import { RecognitionEventSchema } from "../gen/rollcall/vision/v1/bus_pb.js";
import { publishAuditEvents } from "../bench/audit/publish.js";
import { processCpuMicros } from "../bench/lib/process-cpu.js";
import { createBus, subjects } from "../services/runtime/bus/bus.js";
import { STREAMS } from "../services/runtime/bus/streams.js";
import { Sql } from "../services/runtime/db/index.js";
import { createClient } from "../services/runtime/grpc/client.js";
import { createLogger } from "../services/runtime/logger.js";
import { openTestDatabase } from "../test/support/database.js";
import { freePorts } from "../test/support/ports.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = flag("--events", 20_000);
const AUDIT_EVENTS = flag("--audit-events", 50_000);
const SECONDS = flag("--seconds", 20);
const AGENT_SECONDS = existsSync(path.join(ROOT, "agent", "node_modules", "@u4", "opencv4nodejs")) ? flag("--agent-seconds", 120) : 0;
const ADMIN_PASSWORD = "measure-Bootstrap-passw0rd!";

for (const name of ["DATABASE_URL", "REDIS_URL", "NATS_URL"]) {
  if (!process.env[name]) throw new Error(`${name} is required: the figures are for the real servers production uses`);
}

/** The services compiled as the image compiles them (tsconfig include gen + services). */
function compile(): string {
  const dir = path.join(ROOT, ".bench-tmp");
  mkdirSync(dir, { recursive: true });
  const include = ["../gen", "../services", ...(AGENT_SECONDS > 0 ? ["../agent"] : [])];
  writeFileSync(path.join(dir, "tsconfig.measure.json"), JSON.stringify({ extends: "../tsconfig.json", compilerOptions: { outDir: "measure-dist", rootDir: ".." }, include }));
  try {
    execFileSync("npx", ["tsc", "-p", path.join(dir, "tsconfig.measure.json")], { cwd: ROOT, stdio: "pipe" });
  } catch (err) {
    // Type errors still emit JavaScript; report them, measure what was emitted.
    process.stderr.write(`tsc reported: ${String((err as { stdout?: Buffer }).stdout ?? err).slice(0, 2000)}\n`);
  }
  const main = path.join(dir, "measure-dist", "services", "main.js");
  if (!existsSync(main)) throw new Error(`${main} was not emitted`);
  // The agent's own dependencies sit beside its code, as in the agent image.
  const agentModules = path.join(dir, "measure-dist", "agent", "node_modules");
  if (AGENT_SECONDS > 0 && !existsSync(agentModules)) symlinkSync(path.join(ROOT, "agent", "node_modules"), agentModules);
  return main;
}

class Measured {
  child: ChildProcess | undefined;
  output = "";
  peakRss = 0;
  constructor(readonly name: string, readonly services: string[], readonly grpcPort: number, readonly adminPort: number, readonly gatewayPort: number) {}

  target(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  start(main: string, env: Record<string, string>, argv = ["serve", ...this.services]): Promise<void> {
    const child = spawn(process.execPath, [main, ...argv], {
      env: { ...process.env, ...env, ROLLCALL_GRPC_PORT: String(this.grpcPort), ROLLCALL_ADMIN_PORT: String(this.adminPort), ROLLCALL_GATEWAY_PORT: String(this.gatewayPort) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-10_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.child = child;
    return until(async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited ${child.exitCode}:\n${this.output}`);
      return fetch(`http://127.0.0.1:${this.adminPort}/readyz`).then((r) => r.ok, () => false);
    }, `${this.name} ready`, 120_000);
  }

  /** CPU seconds so far (user + system) and RSS in MiB. */
  sample(): { cpu: number; rss: number } {
    const cpuMicros = processCpuMicros(this.child!.pid!);
    if (cpuMicros === undefined) throw new Error(`${this.name} has exited`);
    const cpu = cpuMicros / 1e6;
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.child!.pid}/status`, "utf8"))![1]) / 1024;
    this.peakRss = Math.max(this.peakRss, rss);
    return { cpu, rss };
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

interface Phase { process: string; load: string; ops: number; seconds: number; cpuSeconds: number; rssStart: number; rssPeak: number; rssEnd: number }

/** Runs `load` while sampling `target`; the figures of that window. */
async function measure(target: Measured, load: string, run: () => Promise<number>): Promise<Phase> {
  const before = target.sample();
  let peak = before.rss;
  const timer = setInterval(() => (peak = Math.max(peak, target.sample().rss)), 250);
  const started = performance.now();
  const ops = await run();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  const after = target.sample();
  return { process: target.name, load, ops, seconds, cpuSeconds: after.cpu - before.cpu, rssStart: before.rss, rssPeak: Math.max(peak, after.rss), rssEnd: after.rss };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `concurrency` loops calling `call` until `seconds` pass; the number of calls made. */
async function closedLoop(seconds: number, concurrency: number, call: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await call();
      calls++;
    }
  }));
  return calls;
}

const main = compile();
const database = await openTestDatabase();
const namespace = `measure${process.pid}x${randomBytes(3).toString("hex")}`;
const ports = await freePorts(12);
const core = new Measured("identity+authz", ["identity", "authz"], ports[0]!, ports[1]!, ports[2]!);
const attendance = new Measured("attendance", ["attendance"], ports[3]!, ports[4]!, ports[5]!);
const audit = new Measured("audit", ["audit"], ports[6]!, ports[7]!, ports[8]!);
const gateway = new Measured("gateway", ["gateway"], ports[9]!, ports[10]!, ports[11]!);
const env: Record<string, string> = {
  DATABASE_URL: database.url,
  ROLLCALL_BUS_NAMESPACE: namespace,
  ROLLCALL_CACHE_PREFIX: `${namespace}:`,
  ROLLCALL_SERVICE_SECRET: randomBytes(32).toString("base64url"),
  ROLLCALL_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  ROLLCALL_IDENTITY_ADDR: `127.0.0.1:${core.grpcPort}`,
  ROLLCALL_AUTHZ_ADDR: `127.0.0.1:${core.grpcPort}`,
  ROLLCALL_ATTENDANCE_ADDR: `127.0.0.1:${attendance.grpcPort}`,
  ROLLCALL_AUDIT_ADDR: `127.0.0.1:${audit.grpcPort}`,
  ROLLCALL_VISION_ADDR: `127.0.0.1:${core.grpcPort}`,
  ROLLCALL_JWKS_URL: `http://127.0.0.1:${core.adminPort}/.well-known/jwks.json`,
  LOG_LEVEL: "warn",
  NODE_ENV: "production",
};
const logger = createLogger("silent");
const bus = await createBus({ url: process.env.NATS_URL!, namespace, logger });
const processes = [core, attendance, audit, gateway];
const phases: Phase[] = [];
try {
  await core.start(main, env);
  await Promise.all([attendance.start(main, env), audit.start(main, env), gateway.start(main, env)]);
  const login = await createClient(AuthService, core.target()).login({ organizationCode: "default", login: "admin@default.rollcall.local", password: ADMIN_PASSWORD });
  const token = login.tokens!.accessToken;
  const org = login.user!.organizationId;

  for (const p of [attendance, audit, gateway]) phases.push(await measure(p, "idle 10 s after start", async () => (await new Promise((r) => setTimeout(r, 10_000)), 0)));

  // attendance: a day of sightings at three doors, queued, then drained.
  const devices = createClient(DeviceService, core.target(), { bearer: () => token });
  const doors = await Promise.all([DeviceDirection.IN, DeviceDirection.OUT, DeviceDirection.BOTH].map(async (direction, i) => (await devices.registerDevice({ name: `door ${i}`, direction })).device!.id));
  const users = Array.from({ length: Math.max(1, Math.floor(EVENTS / 10)) }, () => randomUUID());
  const base = Date.now() - 12 * 3_600_000;
  await bus.ensureStream(STREAMS.recognitions);
  const sql = new Sql(database.db.sequelize);
  const stored = (table: string) => database.db.withTenant(org, async (tx) => Number((await sql.row<{ n: string }>(tx, `SELECT count(*) AS n FROM ${table}`))!.n));
  phases.push(await measure(attendance, `ingest ${EVENTS} recognitions from RECOGNITIONS`, async () => {
    const inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const event = create(RecognitionEventSchema, {
        eventId: randomUUID(), organizationId: org, deviceId: doors[i % doors.length]!, userId: users[i % users.length]!, similarity: 0.8,
        captureTime: timestampFromDate(new Date(base + Math.floor(i / users.length) * 120_000)), frameId: randomUUID(), recognizedAt: timestampFromDate(new Date()),
      });
      inFlight.push(bus.publish(subjects.recognitions(org), toBinary(RecognitionEventSchema, event), { msgId: event.eventId }));
      if (inFlight.length >= 500) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    await until(async () => (await stored("attendance.attendance_logs")) >= EVENTS, "attendance to store every event", 600_000);
    return EVENTS;
  }));
  const today = createClient(AttendanceService, attendance.target(), { bearer: () => token });
  phases.push(await measure(attendance, `GetToday over gRPC, 32 in flight, ${SECONDS} s`, () => closedLoop(SECONDS, 32, () => today.getToday({ userId: users[Math.floor(Math.random() * users.length)]! }))));

  phases.push(await measure(audit, `ingest ${AUDIT_EVENTS} audit events from AUDIT`, async () => {
    const already = await stored("audit.audit_logs");
    await publishAuditEvents(bus, [org], AUDIT_EVENTS, 500);
    await until(async () => (await stored("audit.audit_logs")) >= already + AUDIT_EVENTS, "audit to store every event", 600_000);
    return AUDIT_EVENTS;
  }));

  const url = `http://127.0.0.1:${gateway.gatewayPort}/rollcall.attendance.v1.AttendanceService/GetToday`;
  phases.push(await measure(gateway, `Connect JSON GetToday, 32 in flight, ${SECONDS} s`, () => closedLoop(SECONDS, 32, async () => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ userId: users[Math.floor(Math.random() * users.length)] }) });
    if (res.status !== 200) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  })));
  if (AGENT_SECONDS > 0) {
    const { cameraFrame, walkBy, writeFrames, MODELS_DIR } = await import("../test/agent/support/frames.js");
    const frames = mkdtempSync(path.join(tmpdir(), "measure-agent-"));
    const door = ["identities/img2.jpg", "identities/img8.jpg", "identities/img20.jpg"].flatMap((photo) => [...walkBy(photo, 20), ...Array.from({ length: 30 }, () => cameraFrame("noface/home.jpg"))]);
    await writeFrames(path.join(frames, "door"), door);
    await bus.ensureStream(STREAMS.frames);
    await bus.ensureStream(STREAMS.health);
    const registered = await devices.registerDevice({ name: "measured door", direction: DeviceDirection.IN });
    const agentMain = path.join(path.dirname(main), "..", "agent", "bin", "rollcall-agent.js");
    const [metricsPort] = await freePorts(1);
    const agent = new Measured("agent", [], 0, metricsPort!, 0);
    processes.push(agent);
    try {
      await agent.start(agentMain, { ...env, ROLLCALL_DEVICE_ID: registered.device!.id, ROLLCALL_DEVICE_SECRET: registered.secret }, [
        "--source", path.join(frames, "door"), "--loop", "true", "--fps", "10", "--realtime", "true", "--models", MODELS_DIR,
        "--gateway-url", `http://127.0.0.1:${gateway.gatewayPort}`, "--nats", process.env.NATS_URL!, "--namespace", namespace,
        "--metrics-port", String(metricsPort), "--spool-dir", path.join(frames, "spool"), "--log-level", "warn",
      ]);
      phases.push(await measure(agent, "idle 5 s after start", async () => (await new Promise((r) => setTimeout(r, 5_000)), 0)));
      const framesSeen = async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return Number(/^rollcall_agent_frames_captured_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
      };
      const first = await framesSeen();
      phases.push(await measure(agent, `a door at 10 frames/s, ${AGENT_SECONDS} s`, async () => {
        await new Promise((r) => setTimeout(r, AGENT_SECONDS * 1000));
        return (await framesSeen()) - first;
      }));
    } finally {
      await agent.stop();
      rmSync(frames, { recursive: true, force: true });
    }
  }
  devices.close();
  today.close();
} finally {
  for (const p of processes.reverse()) await p.stop();
  await bus.close();
  await database.drop();
}

const load = execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ").slice(0, 3).join(", ");
console.log(`\nresources per process (Node ${process.version}, ${new Date().toISOString()}, load average at the end ${load})\n`);
console.log("| process | load | ops | seconds | CPU s | cores (CPU s / s) | CPU ms per op | RSS start MiB | RSS peak MiB | RSS end MiB |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const p of phases) {
  const perOp = p.ops > 0 ? ((p.cpuSeconds * 1000) / p.ops).toFixed(3) : "-";
  console.log(`| ${p.process} | ${p.load} | ${p.ops} | ${p.seconds.toFixed(1)} | ${p.cpuSeconds.toFixed(2)} | ${(p.cpuSeconds / p.seconds).toFixed(2)} | ${perOp} | ${p.rssStart.toFixed(0)} | ${p.rssPeak.toFixed(0)} | ${p.rssEnd.toFixed(0)} |`);
}
for (const p of processes.filter((p) => p !== core)) console.log(`${p.name}: highest RSS seen ${p.peakRss.toFixed(0)} MiB`);
