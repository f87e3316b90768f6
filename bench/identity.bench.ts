/**
 * Identity's targets (issue 3), each with the load generator in its own process:
 *   login at 8 concurrent clients (≥ 60/s, p99 ≤ 150 ms), measured two ways: the clients calling
 *   back to back (the most logins/s, and the p99 at that saturation) and logins arriving at 60/s
 *   over the 8 clients (the p99 that rate gets); login p50 with one client (< 50 ms),
 *   refresh (≥ 1,500/s), and access-token verification in the interceptor (≥ 20,000/s, one core).
 *   npm run bench:identity -- [--seconds 10] [--only login,refresh,verify] [--client grpc-js|http2] [--record]
 * --client http2 drives the server with a minimal HTTP/2 gRPC client instead of grpc-js, so that
 * the load generator takes less of the two cores from the server.
 * Uses DATABASE_URL / REDIS_URL / NATS_URL when set, else the embedded defaults.
 * CPU per call is reported for each process on the machine's cores: the server (identity + authz,
 * and PGlite when embedded), its Postgres backends (Postgres server), and the load generator.
 * ROLLCALL_BENCH_PROFILE_DIR=<dir> also writes a V8 CPU profile of the server per measured phase.
 */
import { once } from "node:events";
import { loadWithServerCpu, startChild } from "./lib/child.js";
import type { LoadResult } from "./lib/load.js";
import { publish, table } from "./lib/results.js";
import { numberFlag, stringFlag } from "./lib/flags.js";

const seconds = numberFlag("--seconds", 10);
const only = stringFlag("--only", "login,refresh,verify")!.split(",");
const client = stringFlag("--client", "grpc-js")!;
if (client !== "grpc-js" && client !== "http2") throw new Error(`--client is grpc-js or http2, got ${client}`);
const server = startChild<never>(new URL("./identity/server.ts", import.meta.url), ["32"]);
const { target, logins, database, cache } = (await server.ready) as { target: string; logins: string[]; database: string; cache: string };

async function postgresCpuMicros(): Promise<number | undefined> {
  server.send({ postgresCpu: true });
  const [reply] = (await once(server.process, "message")) as [{ postgresCpuMicros?: number }];
  return reply.postgresCpuMicros;
}

async function measure(scenario: "login" | "refresh", concurrency: number, rate: number | undefined) {
  const args = [scenario, client, target, String(concurrency), String(seconds * 1000), logins.join(","), ...(rate ? [String(rate)] : [])];
  const load = startChild<LoadResult & { clientCpuMicrosPerCall: number }>(new URL("./identity/load.ts", import.meta.url), args);
  const result = await loadWithServerCpu(server, load);
  const postgresMicros = database === "PostgreSQL" ? await postgresCpuMicros() : undefined;
  const postgres = database !== "PostgreSQL" ? "(in server)" : postgresMicros === undefined ? "(not on this machine)" : postgresMicros / result.calls / 1000;
  return { ...result, cpuMsPerCall: result.serverCpuMicrosPerCall / 1000, postgres, clientMsPerCall: result.clientCpuMicrosPerCall / 1000 };
}

const rows: Record<string, string | number>[] = [];
const LOGIN_RATE = 60;
const scenarios: { scenario: "login" | "refresh"; clients: number; rate?: number; target: string }[] = [
  { scenario: "login", clients: 8, target: "≥ 60/s, p99 ≤ 150 ms" },
  { scenario: "login", clients: 8, rate: LOGIN_RATE, target: `p99 ≤ 150 ms at ${LOGIN_RATE}/s` },
  { scenario: "login", clients: 1, target: "p50 < 50 ms" },
  { scenario: "refresh", clients: 8, target: "≥ 1,500/s" },
  { scenario: "refresh", clients: 32, target: "≥ 1,500/s" },
];
for (const { scenario, clients, rate, target } of scenarios.filter(({ scenario }) => only.includes(scenario))) {
  const r = await measure(scenario, clients, rate);
  rows.push({
    scenario, clients, arrivals: rate ? `${rate}/s` : "back to back", "calls/s": r.perSecond, "p50 ms": r.p50Ms, "p99 ms": r.p99Ms,
    "server CPU ms/call": r.cpuMsPerCall, "Postgres CPU ms/call": r.postgres, "client CPU ms/call": r.clientMsPerCall,
    errors: r.errors, target,
  });
}
await server.stop();

if (only.includes("verify")) {
  const verify = startChild<{ firstSight: number; repeat: number }>(new URL("./identity/verify.ts", import.meta.url), [String(Math.min(seconds, 5))]);
  const v = await verify.result;
  const inProcess = { arrivals: "", "p50 ms": "", "p99 ms": "", "Postgres CPU ms/call": "", "client CPU ms/call": "", errors: 0 };
  rows.push({ scenario: "verify, first sight of each token (EdDSA signature) + revocation check", clients: 1, "calls/s": v.firstSight, ...inProcess, "server CPU ms/call": 1000 / v.firstSight, target: "" });
  rows.push({ scenario: "verify, repeated token (remembered) + revocation check", clients: 1, "calls/s": v.repeat, ...inProcess, "server CPU ms/call": 1000 / v.repeat, target: "≥ 20,000/s on one core" });
}

await publish(
  "Identity: login, refresh, token verification",
  `${database}, ${cache} cache; argon2id m=19 MiB t=2 p=1; ${seconds} s per run after a 1.5 s warm-up; load generator (${client === "http2" ? "a minimal HTTP/2 gRPC client" : "the grpc-js client"}) in its own process. "back to back": each client calls again as soon as its call returns (closed loop: the most calls/s, whose latency is then clients / throughput); "${LOGIN_RATE}/s": calls arrive at that rate, at most that many clients in flight, latency counted from when a call was due (open model).\n\n${table(rows)}`,
);
