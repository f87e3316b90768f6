/**
 * Attendance ingest and read speed: recognition events from the bus into Postgres (target ≥ 2,000
 * events/s), then GetToday and ListWhoIsIn latency over the day that produced. Real Postgres,
 * Redis and NATS when their URLs are set; the embedded defaults otherwise.
 *
 *   npm run bench:attendance -- [--events 20000] [--users 2000] [--seconds 5] [--record]
 */
import { randomUUID } from "node:crypto";
import { DeviceDirection } from "../gen/rollcall/identity/v1/device_pb.js";
import { STREAMS } from "../services/runtime/bus/streams.js";
import { Sql } from "../services/runtime/db/index.js";
import { createTenant, publishRecognition, startWorld } from "../test/attendance/fixture.js";
import { daytimeZone } from "../test/attendance/zones.js";
import { numberFlag } from "./lib/flags.js";
import { runLoad } from "./lib/load.js";
import { publish, table } from "./lib/results.js";

const events = numberFlag("--events", 20_000);
const userCount = numberFlag("--users", 2_000);
const seconds = numberFlag("--seconds", 5);

// The service's default: identity's answers (devices, settings) reused for 30 s.
process.env.ROLLCALL_ATTENDANCE_DIRECTORY_CACHE_MS = "30000";
const world = await startWorld();
try {
  const tenant = await createTenant(world, daytimeZone(), { gate: DeviceDirection.IN, exit: DeviceDirection.OUT, door: DeviceDirection.BOTH });
  const cameras = [tenant.devices.gate!, tenant.devices.exit!, tenant.devices.door!];
  const users = Array.from({ length: userCount }, () => randomUUID());
  const perUser = Math.ceil(events / userCount);
  // Sightings of one person two minutes apart: past any debounce, so every one is an event.
  const base = Date.now() - (perUser + 1) * 2 * 60_000;

  // Queue the whole day on the bus first, then start attendance and time it through the backlog.
  await world.bus.bus.ensureStream(STREAMS.recognitions);
  const started = performance.now();
  const publishing: Promise<string>[] = [];
  for (let i = 0; i < events; i++) {
    const k = Math.floor(i / userCount);
    publishing.push(publishRecognition(world, tenant.id, { userId: users[i % userCount]!, deviceId: cameras[(k + i) % cameras.length]!, at: new Date(base + k * 2 * 60_000) }));
    if (publishing.length >= 500) await Promise.all(publishing.splice(0));
  }
  await Promise.all(publishing);
  const publishSeconds = (performance.now() - started) / 1000;

  const sql = new Sql(world.database.db.sequelize);
  const stored = () => world.database.db.withTenant(tenant.id, async (tx) => Number((await sql.row<{ n: string }>(tx, "SELECT count(*) AS n FROM attendance.attendance_logs"))!.n));
  const t0 = performance.now();
  const service = await world.start();
  let count = 0;
  while ((count = await stored()) < events && performance.now() - t0 < 600_000) await new Promise((r) => setTimeout(r, 100));
  const ingestSeconds = (performance.now() - t0) / 1000;

  const operator = service.client(tenant.tokens.operator);
  const today = await runLoad(() => operator.getToday({ userId: users[Math.floor(Math.random() * users.length)]! }), { concurrency: 8, durationMs: seconds * 1000, warmupMs: 1000 });
  const whoIsIn = await runLoad(() => operator.listWhoIsIn({ page: { pageSize: 50 } }), { concurrency: 4, durationMs: seconds * 1000, warmupMs: 1000 });

  const backends = `${process.env.DATABASE_URL ? "Postgres" : "PGlite"}, ${process.env.REDIS_URL ? "Redis" : "in-process cache"}, ${process.env.NATS_URL ? "NATS JetStream" : "in-process bus"}`;
  await publish(
    "Attendance ingest and reads",
    [
      `Backends: ${backends}. ${events.toLocaleString("en-US")} recognition events of ${userCount.toLocaleString("en-US")} people queued on the bus (published in ${publishSeconds.toFixed(1)} s), then attendance started and timed through the backlog (from start, including its consumer set-up) until every event was a row in attendance_logs. Reads over the resulting day, one operator token, through the gRPC server. Target: ≥ 2,000 events/s. The machine is shared: figures are noisy.`,
      "",
      table([{ stored: count, seconds: ingestSeconds, "events/s": count / ingestSeconds, target: "≥ 2,000/s", met: count / ingestSeconds >= 2000 ? "yes" : "no" }]),
      "",
      table([
        { call: "GetToday (random person)", concurrency: 8, "calls/s": today.perSecond, "p50 ms": today.p50Ms, "p90 ms": today.p90Ms, "p99 ms": today.p99Ms, errors: today.errors },
        { call: `ListWhoIsIn (page 50 of ${userCount.toLocaleString("en-US")} people)`, concurrency: 4, "calls/s": whoIsIn.perSecond, "p50 ms": whoIsIn.p50Ms, "p90 ms": whoIsIn.p90Ms, "p99 ms": whoIsIn.p99Ms, errors: whoIsIn.errors },
      ]),
    ].join("\n"),
  );
  if (today.firstError || whoIsIn.firstError) console.error("first errors:", today.firstError, whoIsIn.firstError);
} finally {
  await world.stop();
}
