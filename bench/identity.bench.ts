/**
 * Identity's targets (issue 3), each with the load generator in its own process:
 *   login at 8 concurrent clients (≥ 60/s, p99 ≤ 150 ms), login p50 with one client (< 50 ms),
 *   refresh (≥ 1,500/s), and access-token verification in the interceptor (≥ 20,000/s, one core).
 *   npm run bench:identity -- [--seconds 10] [--record]
 * Uses DATABASE_URL / REDIS_URL / NATS_URL when set, else the embedded defaults.
 * ROLLCALL_BENCH_PROFILE_DIR=<dir> also writes a V8 CPU profile of the server per measured phase.
 */
import { loadWithServerCpu, startChild } from "./lib/child.js";
import type { LoadResult } from "./lib/load.js";
import { publish, table } from "./lib/results.js";
import { numberFlag } from "./lib/flags.js";

const seconds = numberFlag("--seconds", 10);
const server = startChild<never>(new URL("./identity/server.ts", import.meta.url), ["32"]);
const { target, logins, database, cache } = (await server.ready) as { target: string; logins: string[]; database: string; cache: string };

async function measure(scenario: "login" | "refresh", concurrency: number) {
  const load = startChild<LoadResult>(new URL("./identity/load.ts", import.meta.url), [scenario, target, String(concurrency), String(seconds * 1000), logins.join(",")]);
  const result = await loadWithServerCpu(server, load);
  return { ...result, cpuMsPerCall: result.serverCpuMicrosPerCall / 1000 };
}

const rows: Record<string, string | number>[] = [];
for (const [scenario, concurrency, target] of [["login", 8, "≥ 60/s, p99 ≤ 150 ms"], ["login", 1, "p50 < 50 ms"], ["refresh", 8, "≥ 1,500/s"], ["refresh", 32, "≥ 1,500/s"]] as const) {
  const r = await measure(scenario, concurrency);
  rows.push({ scenario, clients: concurrency, "calls/s": r.perSecond, "p50 ms": r.p50Ms, "p99 ms": r.p99Ms, "server CPU ms/call": r.cpuMsPerCall, errors: r.errors, target });
}
await server.stop();

const verify = startChild<{ firstSight: number; repeat: number }>(new URL("./identity/verify.ts", import.meta.url), [String(Math.min(seconds, 5))]);
const v = await verify.result;
rows.push({ scenario: "verify, first sight of each token (EdDSA signature) + revocation check", clients: 1, "calls/s": v.firstSight, "p50 ms": "", "p99 ms": "", "server CPU ms/call": 1000 / v.firstSight, errors: 0, target: "" });
rows.push({ scenario: "verify, repeated token (remembered) + revocation check", clients: 1, "calls/s": v.repeat, "p50 ms": "", "p99 ms": "", "server CPU ms/call": 1000 / v.repeat, errors: 0, target: "≥ 20,000/s on one core" });

await publish(
  "Identity: login, refresh, token verification",
  `${database}, ${cache} cache; argon2id m=19 MiB t=2 p=1; ${seconds} s per run after a 1.5 s warm-up; load generator in its own process.\n\n${table(rows)}`,
);
