/**
 * Audit benchmark (issue 7), against the real Postgres and NATS (DATABASE_URL, NATS_URL):
 *  1. ingest: N audit events are published to the AUDIT stream, then the audit service (a child
 *     process) drains them into Postgres; it is killed with SIGKILL a third of the way in and
 *     started again. Reports the rows/s of each run and checks count in = count stored, every
 *     event id once, and every chain verifying.
 *  2. VerifyChain over 1,000,000 rows of one organisation: the time.
 *   npm run bench:audit -- [--events 300000] [--verify-rows 1000000] [--record]
 * ROLLCALL_BENCH_PROFILE_DIR=dir also writes a V8 CPU profile of the audit process per run.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { ChainVerifier } from "../services/audit/chain/chain-verifier.js";
import { ChainWriter, type NewAuditRow } from "../services/audit/chain/chain-writer.js";
import { createBus } from "../services/runtime/bus/bus.js";
import { Namespace } from "../services/runtime/bus/subjects.js";
import { openDatabase, Sql } from "../services/runtime/db/index.js";
import { createLogger } from "../services/runtime/logger.js";
import { startChild, type ChildHandle } from "./lib/child.js";
import { numberFlag } from "./lib/flags.js";
import { publish, table } from "./lib/results.js";
import { backendPids, CpuMeter, natsServerPid } from "./audit/cpu.js";
import { publishAuditEvents } from "./audit/publish.js";
import { deleteStreams } from "../test/support/bus.js";
import { onServer } from "../test/support/database.js";

const serverUrl = process.env.DATABASE_URL;
const natsUrl = process.env.NATS_URL;
if (!serverUrl || !natsUrl) throw new Error("bench:audit runs against the real servers: set DATABASE_URL and NATS_URL");
const EVENTS = numberFlag("--events", 300_000);
const VERIFY_ROWS = numberFlag("--verify-rows", 1_000_000);
const ORGS = Array.from({ length: 10 }, () => randomUUID());
const logger = createLogger("silent");

const run = randomBytes(3).toString("hex");
const dbName = `rollcall_bench_audit_${run}`;
await onServer(serverUrl, `CREATE DATABASE "${dbName}"`);
const dbUrl = Object.assign(new URL(serverUrl), { pathname: `/${dbName}` }).href;
const namespace = `benchaudit${run}`;
const env = { DATABASE_URL: dbUrl, NATS_URL: natsUrl, ROLLCALL_BUS_NAMESPACE: namespace, ROLLCALL_CACHE_PREFIX: `bench:${run}:`, ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}) };
const db = await openDatabase({ url: dbUrl, logger });
const counter = new pg.Client({ connectionString: dbUrl });
await counter.connect();
const bus = await createBus({ url: natsUrl, namespace, logger });

try {
  console.log(`publishing ${EVENTS} audit events over ${ORGS.length} organisations…`);
  // The stream is filled before the audit service starts, so the drain is measured alone.
  const nats = natsServerPid();
  const natsMeter = new CpuMeter(() => (nats ? [nats] : []));
  await natsMeter.start();
  const publisherCpu = process.cpuUsage();
  const published = await publishAuditEvents(bus, ORGS, EVENTS);
  await natsMeter.sample();
  const publishCpu = { publisher: cpuOf(process.cpuUsage(publisherCpu)), nats: natsMeter.seconds() };
  console.log(`published in ${published.seconds.toFixed(1)} s (${Math.round(EVENTS / published.seconds)}/s)`);

  const runs: Record<string, string | number>[] = [];
  const first = await startAudit();
  const killedAt = await drain(first, Math.floor(EVENTS / 3), "until SIGKILL", runs);
  first.process.kill("SIGKILL");
  await new Promise((resolve) => first.process.once("exit", resolve));
  console.log(`killed the audit process at ${killedAt} rows`);
  const second = await startAudit();
  await drain(second, EVENTS, "after restart", runs);
  await second.stop();

  const [{ rows, distinct }] = (await counter.query(`SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM audit.audit_logs`)).rows as [{ rows: number; distinct: number }];
  const stored = new Set((await counter.query(`SELECT event_id FROM audit.audit_logs`)).rows.map((r: { event_id: string }) => r.event_id));
  const lost = [...published.ids].filter((id) => !stored.has(id)).length;
  const verifier = new ChainVerifier(db, new Sql(db.sequelize));
  let chainsOk = 0;
  for (const org of ORGS) if ((await verifier.verify(org, {})).ok) chainsOk++;
  const ingestBody = table(runs) +
    `\n\nPublished ${EVENTS.toLocaleString("en-US")} events first (${Math.round(EVENTS / published.seconds).toLocaleString("en-US")}/s; CPU µs/event: publisher ${perEvent(publishCpu.publisher, EVENTS)}, nats-server ${perEvent(publishCpu.nats, EVENTS)}), then the audit process alone drained the pre-filled AUDIT stream; killed with SIGKILL at ${killedAt.toLocaleString("en-US")} rows and restarted.` +
    ` CPU µs per stored row is each process's user+system time over the run (/proc), divided by the rows stored in it: audit = the audit service, postgres = its database's backends, nats = the whole nats-server (shared with anything else using it).` +
    `\nCount in = ${EVENTS.toLocaleString("en-US")}; stored rows = ${rows.toLocaleString("en-US")}; distinct event ids = ${distinct.toLocaleString("en-US")}; lost = ${lost}; chains verifying: ${chainsOk}/${ORGS.length}.`;

  console.log(`writing ${VERIFY_ROWS} rows of one organisation for VerifyChain…`);
  const big = randomUUID();
  const writer = new ChainWriter(db, new Sql(db.sequelize));
  for (let written = 0; written < VERIFY_ROWS; written += 5_000) {
    await writer.append(Array.from({ length: Math.min(5_000, VERIFY_ROWS - written) }, (_, i) => row(big, written + i)));
  }
  const t0 = performance.now();
  const verified = await verifier.verify(big, {});
  const verifySeconds = (performance.now() - t0) / 1000;
  const verifyBody = table([{ rows: Number(verified.rowsChecked), ok: String(verified.ok), seconds: verifySeconds, "rows/s": Number(verified.rowsChecked) / verifySeconds }]);

  await publish("Audit: ingest from the bus with a SIGKILL mid-way, and VerifyChain", `${ingestBody}\n\nVerifyChain over one organisation's chain (one process, pages of 20,000 rows, SHA-256 in Node):\n\n${verifyBody}\n\nFigures on a shared 2-core machine with other engineers' work running; noisy.`);
} finally {
  await bus.close();
  await counter.end();
  await db.close();
  await onServer(serverUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await deleteStreams(natsUrl, new Namespace(namespace).streamPrefix);
}

async function startAudit(): Promise<ChildHandle<unknown>> {
  const child = startChild(new URL("./audit/server.ts", import.meta.url), [], env);
  await child.ready;
  return child;
}

/**
 * Polls the row count until `target`. The steady rate is taken from the first new row until 80%
 * of the run's rows are in: after a SIGKILL the last batches the dead process held wait for the
 * ack timeout (15 s) before they are redelivered, which the time to all rows shows separately.
 */
async function drain(child: ChildHandle<unknown>, target: number, label: string, runs: Record<string, string | number>[]): Promise<number> {
  // The chains' own row counts (committed with their rows): polling count(*) over audit_logs
  // every 100 ms scanned the growing table with parallel workers, which took CPU from the service
  // and were counted as its Postgres backends. The end of the bench counts audit_logs itself.
  const count = async () => Number((await counter.query(`SELECT coalesce(sum(row_count), 0) AS n FROM audit.chain_heads`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
  const nats = natsServerPid();
  const meters = {
    audit: new CpuMeter(() => [child.process.pid!]),
    postgres: new CpuMeter(() => backendPids(counter, dbName)),
    nats: new CpuMeter(() => (nats ? [nats] : [])),
  };
  for (const meter of Object.values(meters)) await meter.start();
  child.send({ phase: "start" });
  const startCount = await count();
  const steadyAt = startCount + 0.8 * (target - startCount);
  let started: { at: number; n: number } | undefined;
  let steady: { seconds: number; rows: number } | undefined;
  let n = startCount;
  while (n < target) {
    if (child.process.exitCode !== null) throw new Error(`the audit process exited (${child.process.exitCode})`);
    await sleep(100);
    for (const meter of Object.values(meters)) await meter.sample();
    n = await count();
    if (!started && n > startCount) started = { at: performance.now(), n };
    if (started && !steady && n >= steadyAt) steady = { seconds: (performance.now() - started.at) / 1000, rows: n - started.n };
  }
  const seconds = started ? (performance.now() - started.at) / 1000 : 0;
  const rows = n - startCount;
  child.send({ phase: "end" });
  // A V8 profile of the run (ROLLCALL_BENCH_PROFILE_DIR) is written before the SIGKILL.
  if (process.env.ROLLCALL_BENCH_PROFILE_DIR) await sleep(3_000);
  runs.push({
    run: label, rows, "steady rows/s": steady && steady.seconds > 0 ? steady.rows / steady.seconds : 0, "seconds to all rows": seconds,
    "CPU µs/row: audit": perEvent(meters.audit.seconds(), rows), postgres: perEvent(meters.postgres.seconds(), rows), nats: perEvent(meters.nats.seconds(), rows),
  });
  return n;
}

function cpuOf(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

/** CPU seconds as µs per event. */
function perEvent(seconds: number, events: number): number {
  return events > 0 ? Math.round((seconds * 1e6) / events) : 0;
}

function row(org: string, i: number): NewAuditRow {
  return {
    eventId: randomUUID(), organizationId: org, actorType: "USER", actorId: randomUUID(), action: "user.update", entityType: "user",
    entityId: randomUUID(), outcome: "SUCCESS", ip: "10.0.0.1", userAgent: "bench", detail: { n: i }, service: "bench", occurredAt: new Date(),
  };
}

