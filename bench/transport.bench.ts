/**
 * Unary call cost: Rollcall's grpc-js adapter against connect-node serving the same handler,
 * measured side by side (alternating rounds) with the load generator in its own process.
 *   npm run bench:transport -- [--seconds 5] [--concurrency 50] [--rounds 2] [--record]
 */
import { loadWithServerCpu, startChild } from "./lib/child.js";
import type { LoadResult } from "./lib/load.js";
import { publish, table } from "./lib/results.js";
import { numberFlag } from "./lib/flags.js";

const seconds = numberFlag("--seconds", 5);
const concurrency = numberFlag("--concurrency", 50);
const rounds = numberFlag("--rounds", 2);

const server = startChild<never>(new URL("./transport/server.ts", import.meta.url));
const { grpcPort, connectPort } = (await server.ready) as { grpcPort: number; connectPort: number };

async function measure(kind: "grpc" | "connect"): Promise<LoadResult & { cpuMicrosPerCall: number }> {
  const port = kind === "grpc" ? grpcPort : connectPort;
  const load = startChild<LoadResult>(new URL("./transport/load.ts", import.meta.url), [kind, String(port), String(concurrency), String(seconds * 1000)]);
  const result = await loadWithServerCpu(server, load);
  return { ...result, cpuMicrosPerCall: result.serverCpuMicrosPerCall };
}

const rows: Record<string, string | number>[] = [];
const totals = { grpc: [] as LoadResult[], connect: [] as LoadResult[] };
const cpu = { grpc: [] as number[], connect: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  for (const kind of ["grpc", "connect"] as const) {
    const r = await measure(kind);
    totals[kind].push(r);
    cpu[kind].push(r.cpuMicrosPerCall);
    rows.push({
      round, server: kind === "grpc" ? "grpc-js (Rollcall adapter)" : "connect-node (baseline)",
      "calls/s": r.perSecond, "p50 ms": r.p50Ms, "p99 ms": r.p99Ms, "server CPU µs/call": r.cpuMicrosPerCall, errors: r.errors,
    });
  }
}
await server.stop();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ratioRps = mean(totals.grpc.map((r) => r.perSecond)) / mean(totals.connect.map((r) => r.perSecond));
const ratioCpu = mean(cpu.connect) / mean(cpu.grpc);
await publish(
  "Transport: unary Check, grpc-js adapter vs connect-node",
  `${concurrency} calls in flight, ${seconds} s per run after a 1.5 s warm-up, load generator in a separate process, ${rounds} alternating rounds.\n\n${table(rows)}\n\n` +
    `grpc-js serves ${ratioRps.toFixed(2)}x the calls per second of connect-node and uses ${ratioCpu.toFixed(2)}x less server CPU per call.`,
);
