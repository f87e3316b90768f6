/**
 * One measured run of the authz gRPC benchmark against a server child: the load from the
 * grpc-js client (a Node process, load.ts) or from h2load (C, h2load.ts), and the server's CPU
 * time over the measured part. h2load's answers are checked as gRPC, not HTTP: one probe of the
 * exact request must answer grpc-status 0 with the expected message, and the server's own count
 * of calls by status code (its /metrics) must show no other code over the run.
 */
import { once } from "node:events";
import { loadWithServerCpu, startChild, type ChildHandle } from "../lib/child.js";
import type { LoadResult } from "../lib/load.js";
import { probe, runH2load, type GrpcRequest } from "./h2load.js";

export const CLIENTS = ["h2load", "grpc-js"] as const;
export type ClientKind = (typeof CLIENTS)[number];

export type Measured = LoadResult & { clientCpuMicrosPerCall: number; serverCpuMicrosPerCall: number };

export interface Server {
  child: ChildHandle<unknown>;
  grpcTarget: string;
  /** The server's Prometheus endpoint, when it has one (the replicas; not the bare floor). */
  metricsUrl?: string;
}

export interface RunOptions {
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
}

/** grpc-js load generator in its own process, sending pre-built requests from `queriesFile`. */
export function withGrpcJs(kind: "check" | "batch", server: Server, options: RunOptions, queriesFile: string, token: string): Promise<Measured> {
  const load = startChild<LoadResult & { clientCpuMicrosPerCall: number }>(new URL("./load.ts", import.meta.url), [
    kind, server.grpcTarget, String(options.concurrency), String(options.seconds * 1000), queriesFile, token,
  ]);
  return loadWithServerCpu(server.child, load, options.warmupSeconds * 1000);
}

/**
 * h2load repeating one request. `expect` throws unless the probe's decoded answer is the right
 * one; afterwards every call the server finished on the method must have been OK.
 */
export async function withH2load(server: Server, request: Omit<GrpcRequest, "target">, options: RunOptions, expect: (response: Uint8Array) => void): Promise<Measured> {
  const full = { ...request, target: server.grpcTarget };
  const answer = await probe(full);
  if (answer.httpStatus !== 200 || answer.grpcStatus !== "0") {
    throw new Error(`the request h2load would send is not answered OK: HTTP ${answer.httpStatus}, grpc-status ${answer.grpcStatus} ${answer.grpcMessage ?? ""}`);
  }
  expect(answer.message);
  const at: { before?: Map<string, number>; cpu?: Promise<number> } = {};
  const result = await runH2load(full, {
    ...options,
    beforeMeasuring: async () => {
      // Calls the warm-up's end reset are counted (CANCELLED) before the measured run starts.
      await new Promise((resolve) => setTimeout(resolve, 200));
      at.before = server.metricsUrl ? await handledByCode(server.metricsUrl, request.path) : undefined;
      at.cpu = cpuMeasurement(server.child);
    },
  });
  server.child.send({ phase: "end" });
  const serverCpuMicros = await at.cpu!;
  const before = at.before;
  let errors = result.errors;
  let firstError = result.firstError;
  if (server.metricsUrl && before) {
    const after = await handledByCode(server.metricsUrl, request.path);
    const delta = (code: string) => (after.get(code) ?? 0) - (before.get(code) ?? 0);
    const notOk = [...after.keys()].filter((code) => code !== "OK" && delta(code) > 0);
    errors += notOk.reduce((sum, code) => sum + delta(code), 0);
    if (notOk.length > 0) firstError ??= `server answered ${notOk.map((c) => `${c} x${delta(c)}`).join(", ")}`;
    if (delta("OK") < result.calls) throw new Error(`h2load counted ${result.calls} answers, the server only ${delta("OK")} OK calls`);
  }
  return { ...result, errors, firstError, serverCpuMicrosPerCall: serverCpuMicros / result.calls };
}

/** Starts the server's CPU phase; resolves with its CPU µs once the caller sends `{ phase: "end" }`. */
function cpuMeasurement(server: ChildHandle<unknown>): Promise<number> {
  const reply = once(server.process, "message") as Promise<[{ cpuMicros: number }]>;
  server.send({ phase: "start" });
  return reply.then(([{ cpuMicros }]) => cpuMicros);
}

/** grpc_server_handled_total of one method, by grpc_code, from a Prometheus text exposition. */
async function handledByCode(metricsUrl: string, path: string): Promise<Map<string, number>> {
  const [, service, method] = path.split("/");
  const text = await (await fetch(metricsUrl)).text();
  const counts = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("grpc_server_handled_total{")) continue;
    if (!line.includes(`grpc_service="${service}"`) || !line.includes(`grpc_method="${method}"`)) continue;
    const code = /grpc_code="([A-Z_]+)"/.exec(line)?.[1];
    if (code) counts.set(code, Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return counts;
}
