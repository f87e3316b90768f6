/**
 * Authz over gRPC on loopback: Check at 50 in flight and BatchCheck decisions per second against
 * one replica, with the load generator in its own process; then how soon a policy change made on
 * one replica is visible to Check on another (two replica processes on one database and bus).
 * Uses DATABASE_URL / REDIS_URL / NATS_URL when set (a fresh database is created), else the
 * embedded defaults; without NATS the replicas share no bus and only the poll carries changes.
 * A bare grpc-js server with an empty Check handler, driven the same way, is the transport's floor.
 * Plaintext HTTP/2 on loopback (the mesh's callers use mTLS: its TLS cost is not in these figures).
 *
 * Load generators (--client, a comma-separated list, each run in turn):
 *   h2load   nghttp2's C load generator (apt-get install -y nghttp2-client) repeating one prepared
 *            request; a few µs of CPU per call, so the figure is the server's (bench/authz/h2load.ts)
 *   grpc-js  Rollcall's own client in a Node process over 100,000 random queries; it needs more
 *            CPU per call than the server, and shares the two cores with it
 * ROLLCALL_BENCH_PROFILE_DIR=<dir> also writes a V8 CPU profile of the server per measured phase.
 *   npm run bench:authz:grpc -- [--client h2load,grpc-js] [--calls check,batch,floor,visibility]
 *     [--seconds 10] [--concurrency 50] [--batch-concurrency 8] [--changes 20] [--record]
 */
import { writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { AuthzAdminService } from "../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService } from "../gen/rollcall/authz/v1/authz_pb.js";
import { authzModule } from "../services/authz/module.js";
import { CatalogueStore } from "../services/authz/store/catalogue-store.js";
import { Sql } from "../services/runtime/db/index.js";
import { createClient } from "../services/runtime/grpc/client.js";
import { TokenVerifier } from "../services/runtime/auth/token-verifier.js";
import { createLocalJWKSet } from "jose";
import { openTestDatabase } from "../test/support/database.js";
import { newSigner, serveJwks, signToken } from "../test/support/tokens.js";
import { storePolicy } from "../test/authz/support/random-policy.js";
import { startChild } from "./lib/child.js";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { summarize } from "./lib/load.js";
import { formatNumber as fmt, publish, table } from "./lib/results.js";
import { benchPolicy, benchQueries, ISSUE_POLICY } from "./authz/policy.js";
import { h2loadAvailable } from "./authz/h2load.js";
import { floorCheck, repeatedBatch, repeatedCheck, type RepeatedCall } from "./authz/h2load-requests.js";
import { CLIENTS, withGrpcJs, withH2load, type ClientKind, type Measured, type RunOptions, type Server } from "./authz/measure.js";

const seconds = numberFlag("--seconds", 10);
const concurrency = numberFlag("--concurrency", 50);
const batchConcurrency = numberFlag("--batch-concurrency", 8);
const changes = numberFlag("--changes", 20);
const clients = listFlag("--client", "h2load,grpc-js", CLIENTS);
const calls = listFlag("--calls", "check,batch,floor,visibility", ["check", "batch", "floor", "visibility"] as const);
const WARMUP_SECONDS = 1.5;
/** "(call, client): message" of each run that had errors. */
const firstErrors: string[] = [];
if (clients.includes("h2load") && !h2loadAvailable()) {
  throw new Error("h2load is not installed: apt-get install -y nghttp2-client (Debian's package), or pass --client grpc-js");
}

const database = await openTestDatabase();
const queriesFile = join(tmpdir(), `authz-bench-${process.pid}.json`);
const signer = await newSigner();
const jwks = await serveJwks([signer.publicJwk]);
const token = await signToken(signer, { typ: "service", sub: "bench", roles: [] });
const replicas: ReturnType<typeof startReplica>[] = [];
try {
  const { db } = database;
  await db.migrate("authz", authzModule.migrations);
  await db.withSystem((tx) => new CatalogueStore(new Sql(db.sequelize)).syncBuiltIns(tx));
  const policy = benchPolicy(ISSUE_POLICY);
  for (const org of policy) await storePolicy(db, org);
  const queries = benchQueries(policy, 100_000);
  await writeFile(queriesFile, JSON.stringify(queries));
  const repeated = { check: repeatedCheck(policy, queries, token), batch: repeatedBatch(policy, queries, token) };

  const namespace = `bench${randomBytes(3).toString("hex")}`;
  replicas.push(startReplica(namespace), startReplica(namespace));
  const [a, b] = (await Promise.all(replicas.map((r) => r.ready))) as { grpcPort: number; adminPort: number }[];
  const replicaA: Server = { child: replicas[0]!, grpcTarget: `127.0.0.1:${a!.grpcPort}`, metricsUrl: `http://127.0.0.1:${a!.adminPort}/metrics` };
  const replicaB: Server = { child: replicas[1]!, grpcTarget: `127.0.0.1:${b!.grpcPort}`, metricsUrl: `http://127.0.0.1:${b!.adminPort}/metrics` };
  const targetB = replicaB.grpcTarget;

  const rows: ReturnType<typeof row>[] = [];
  const measured: { client: ClientKind; check?: Measured; floor?: Measured }[] = [];
  for (const client of clients) {
    const m: (typeof measured)[number] = { client };
    if (calls.includes("check")) rows.push(row("Check", client, concurrency, (m.check = await run(client, "check", replicaA, concurrency, repeated.check)), 1));
    if (calls.includes("check") && client === "h2load") {
      rows.push(row("Check, two replicas (a process per core), half the streams each", client, concurrency, await onBothReplicas([replicaA, replicaB], repeated.check), 1));
    }
    if (calls.includes("batch")) rows.push(row("BatchCheck (1,000 items)", client, batchConcurrency, await run(client, "batch", replicaA, batchConcurrency, repeated.batch), 1000));
    if (calls.includes("floor")) rows.push(row("floor: bare grpc-js, empty Check handler", client, concurrency, (m.floor = await runFloor(client, floorCheck(repeated.check))), 1));
    measured.push(m);
  }
  const visibility = calls.includes("visibility") ? await measureVisibility(policy, replicaA.grpcTarget, targetB) : [];
  const verify = await verificationCost();

  const bus = process.env.NATS_URL ? "NATS" : "none shared (in-process bus per replica): changes travel by the 500 ms poll";
  await publish(
    "Authz: Check and BatchCheck over gRPC, policy-change visibility",
    `Policy as in the in-process benchmark (${ISSUE_POLICY.organizations} organisations x ${ISSUE_POLICY.roles} roles x ${ISSUE_POLICY.grantsPerRole} grants over ` +
      `${ISSUE_POLICY.resources} resources, ${ISSUE_POLICY.users.toLocaleString("en-US")} users x ${ISSUE_POLICY.rolesPerUser} roles), stored in Postgres. ` +
      `Each replica is the real host (token verified against a JWKS, revocation list, metrics) serving authz on plaintext HTTP/2 (mesh callers use mTLS); ` +
      `the load generator is another process on loopback, ${seconds} s after a ${WARMUP_SECONDS} s warm-up, with a service token asking about other subjects. ` +
      `Database: ${process.env.DATABASE_URL ? "Postgres server" : "embedded PGlite"}; cache: ${process.env.REDIS_URL ? "Redis" : "in-process"}; bus: ${bus}.\n\n` +
      `Clients: h2load (nghttp2, C) sends ${repeated.check.describe}, or ${repeated.batch.describe}, on one HTTP/2 connection; ` +
      `one probe of that request must answer grpc-status 0 with the decision the same policy compiled in the benchmark gives, and the replica's ` +
      `grpc_server_handled_total must count no other code over the run (errors). A repeated Check meets the same prepared answer each time (authz builds and ` +
      `encodes each decision's answer once), which random queries do less often: grpc-js is Rollcall's client in a Node process over 100,000 random queries.\n\n` +
      table(rows) +
      measured.map(ceilingNote).join("") +
      `\n\nFor scale, measured alone on this machine: the auth interceptor verifies a token it has not seen in ${verify.firstMicros.toFixed(0)} µs of CPU ` +
      `(Ed25519 through WebCrypto) and one it has seen in ${verify.repeatMicros.toFixed(1)} µs (verified tokens are remembered; the load generators reuse one); ` +
      `the decision itself takes well under 1 µs (in-process benchmark), the rest of the server CPU is gRPC, protobuf, the revocation lookup and metrics.` +
      (visibility.length === 0 ? "" :
        `\n\nVisibility: time from a policy write returning on replica A until Check on replica B (no at_least_revision) answers the new way, ` +
        `${changes} changes of each kind, B polled back to back:\n\n` +
        table(visibility.map((v) => ({ change: v.kind, "p50 ms": v.p50Ms, "p99 ms": v.p99Ms, "max ms": v.maxMs })))) +
      firstErrors.map((e) => `\n\nFirst error ${e}`).join(""),
  );
} finally {
  for (const replica of replicas) await replica.stop();
  await jwks.close();
  await database.drop();
  await rm(queriesFile, { force: true });
}

/**
 * CPU µs per token verification as the auth interceptor does it: a token seen for the first time
 * (Ed25519 through WebCrypto), and one seen before (the verifier remembers verified tokens).
 */
async function verificationCost(): Promise<{ firstMicros: number; repeatMicros: number }> {
  const verifier = new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet({ keys: [signer.publicJwk] }) });
  const cpuPerCall = async (tokens: string[]) => {
    const before = process.cpuUsage();
    for (const t of tokens) await verifier.verify(t);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / tokens.length;
  };
  const fresh = await Promise.all(Array.from({ length: 2000 }, () => signToken(signer, { typ: "service", sub: "bench", roles: [] })));
  const firstMicros = await cpuPerCall(fresh);
  return { firstMicros, repeatMicros: await cpuPerCall(Array(2000).fill(token)) };
}

function startReplica(namespace: string) {
  return startChild<never>(new URL("./authz/server.ts", import.meta.url), [], {
    DATABASE_URL: database.url,
    ROLLCALL_JWKS_URL: jwks.url,
    ROLLCALL_GRPC_PORT: "0",
    ROLLCALL_ADMIN_PORT: "0",
    ROLLCALL_BUS_NAMESPACE: namespace,
    ROLLCALL_DATA_DIR: join(tmpdir(), `authz-bench-${process.pid}`),
  });
}

function run(client: ClientKind, kind: "check" | "batch", server: Server, inFlight: number, call: RepeatedCall): Promise<Measured> {
  const options: RunOptions = { concurrency: inFlight, seconds, warmupSeconds: WARMUP_SECONDS };
  return client === "h2load" ? withH2load(server, call.request, options, call.expect) : withGrpcJs(kind, server, options, queriesFile, token);
}

/**
 * The same load split over two replicas at once, as a deployment with a replica per core serves
 * it (the mesh's clients balance round-robin): calls/s add up, latency is the worse replica's.
 */
async function onBothReplicas(servers: Server[], call: RepeatedCall): Promise<Measured> {
  const options: RunOptions = { concurrency: Math.ceil(concurrency / servers.length), seconds, warmupSeconds: WARMUP_SECONDS };
  const parts = await Promise.all(servers.map((server) => withH2load(server, call.request, options, call.expect)));
  const calls = parts.reduce((sum, m) => sum + m.calls, 0);
  const perCall = (cpu: (m: Measured) => number) => parts.reduce((sum, m) => sum + cpu(m) * m.calls, 0) / calls;
  const worst = (of: (m: Measured) => number) => Math.max(...parts.map(of));
  return {
    calls,
    errors: parts.reduce((sum, m) => sum + m.errors, 0),
    firstError: parts.find((m) => m.firstError)?.firstError,
    seconds: worst((m) => m.seconds),
    perSecond: parts.reduce((sum, m) => sum + m.perSecond, 0),
    p50Ms: worst((m) => m.p50Ms),
    p90Ms: worst((m) => m.p90Ms),
    p99Ms: worst((m) => m.p99Ms),
    maxMs: worst((m) => m.maxMs),
    serverCpuMicrosPerCall: perCall((m) => m.serverCpuMicrosPerCall),
    clientCpuMicrosPerCall: perCall((m) => m.clientCpuMicrosPerCall),
  };
}

async function runFloor(client: ClientKind, call: RepeatedCall): Promise<Measured> {
  const floor = startChild<never>(new URL("./authz/floor-server.ts", import.meta.url));
  try {
    const { grpcPort } = (await floor.ready) as { grpcPort: number };
    return await run(client, "check", { child: floor, grpcTarget: `127.0.0.1:${grpcPort}` }, concurrency, call);
  } finally {
    await floor.stop();
  }
}

/** Calls per second two cores could carry if the server and the load generator had them to themselves. */
function ceiling(m: Measured): number {
  return 2e6 / (m.serverCpuMicrosPerCall + m.clientCpuMicrosPerCall);
}

function ceilingNote({ client, check, floor }: { client: ClientKind; check?: Measured; floor?: Measured }): string {
  if (!check || !floor) return "";
  return `\n\nWith ${client}: two cores carry at most 2,000,000 / (server + client CPU µs per call) calls/s, here ` +
    `${fmt(ceiling(floor))}/s for the bare transport and ${fmt(ceiling(check))}/s for Rollcall's Check ` +
    `(the server alone, were the client free: ${fmt(1e6 / floor.serverCpuMicrosPerCall)}/s and ${fmt(1e6 / check.serverCpuMicrosPerCall)}/s per core).`;
}

function row(call: string, client: ClientKind, inFlight: number, m: Measured, decisionsPerCall: number) {
  if (m.firstError) firstErrors.push(`(${call}, ${client}): ${m.firstError}`);
  return {
    call, client, "in flight": inFlight, "calls/s": m.perSecond, "decisions/s": m.perSecond * decisionsPerCall, "p50 ms": m.p50Ms, "p99 ms": m.p99Ms,
    "server CPU µs/call": m.serverCpuMicrosPerCall, "client CPU µs/call": m.clientCpuMicrosPerCall, errors: m.errors,
  };
}

/** A comma-separated flag whose items must come from `allowed`. */
function listFlag<T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] {
  const items = stringFlag(name, fallback)!.split(",").map((s) => s.trim()).filter(Boolean);
  const wrong = items.filter((i) => !allowed.includes(i as T));
  if (wrong.length > 0 || items.length === 0) throw new Error(`${name} takes a comma-separated list of ${allowed.join(", ")}; got ${JSON.stringify(stringFlag(name, fallback))}`);
  return items as T[];
}

/**
 * Flips one subject's access on A, by an assignment (applied to B's policy by that subject
 * alone) and by a grant (B reloads the organisation), and times until B answers the new way.
 */
async function measureVisibility(policy: ReturnType<typeof benchPolicy>, targetA: string, targetB: string) {
  const writer = createClient(AuthzAdminService, targetA, { bearer: () => token });
  const reader = createClient(AuthzService, targetB, { bearer: () => token });
  const org = policy[0]!;
  const [subject] = org.subjects;
  const roleId = subject!.roleIds[0]!;
  const otherRole = subject!.roleIds[1];
  // A permission only the first role grants, so taking that role away flips the answer.
  const grant = org.grants.find((g) => g.roleId === roleId && !org.grants.some((o) => o.roleId === otherRole && o.permissionId === g.permissionId))!;
  const permission = org.permissions.find((p) => p.id === grant.permissionId)!;
  const resource = org.resources.find((r) => r.id === permission.resourceId)!.name;
  const ask = { subjectId: subject!.subjectId, organizationId: org.organizationId, resource, action: permission.action };

  const timeUntil = async (allowed: boolean, write: () => Promise<unknown>) => {
    await write();
    const started = performance.now();
    while ((await reader.check(ask)).allowed !== allowed) {
      if (performance.now() - started > 5000) throw new Error("a policy change was not visible on the other replica within 5 s");
    }
    return performance.now() - started;
  };
  const flips = async (take: () => Promise<unknown>, give: () => Promise<unknown>) => {
    const latencies: number[] = [];
    for (let i = 0; i < changes; i++) {
      latencies.push(await timeUntil(false, take));
      latencies.push(await timeUntil(true, give));
    }
    return summarize(latencies, 0, undefined, 1);
  };
  // B loads the organisation first (10,000 subjects: longer than a call's default deadline on a busy machine).
  await reader.check(ask, { timeoutMs: 60_000 });
  const assignment = await flips(
    () => writer.unassignRole({ organizationId: org.organizationId, userId: subject!.subjectId, roleId }),
    () => writer.assignRole({ organizationId: org.organizationId, userId: subject!.subjectId, roleId }),
  );
  const regrant = await flips(
    () => writer.revokeGrant({ roleId, permissionId: grant.permissionId }),
    () => writer.grantPermission({ roleId, permissionId: grant.permissionId, scope: grant.scope === "ALL" ? 3 : 2 }),
  );
  return [
    { kind: "assignment (B applies the subject's roles)", ...assignment },
    { kind: "grant (B reloads the organisation)", ...regrant },
  ];
}
