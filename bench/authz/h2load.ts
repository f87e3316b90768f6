/**
 * A lean gRPC load generator for unary calls: h2load (nghttp2's HTTP/2 benchmark tool, written in
 * C; Debian package nghttp2-client) posting one prepared, length-prefixed protobuf request with
 * gRPC's headers. It spends a fraction of grpc-js's client CPU per call, so on two shared cores
 * the figure is the server's, not the client's.
 *
 * h2load judges a response by its HTTP status alone, and gRPC answers errors with HTTP 200 and a
 * grpc-status trailer: so `probe` first sends the very same request once over node:http2 and
 * checks the trailer and the decoded answer, and the caller compares h2load's count with the
 * server's own count of OK calls.
 */
import { spawn, spawnSync } from "node:child_process";
import { connect, constants } from "node:http2";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoadResult } from "../lib/load.js";
import { summarize } from "../lib/load.js";

export interface GrpcRequest {
  /** host:port, plaintext HTTP/2 (prior knowledge). */
  target: string;
  /** `/package.Service/Method` */
  path: string;
  bearer: string;
  /** The encoded request message (not yet framed). */
  message: Uint8Array;
}

/** gRPC's framing of one uncompressed message: flag byte 0, 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function headersOf(request: GrpcRequest): Record<string, string> {
  return { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${request.bearer}` };
}

export function h2loadAvailable(): boolean {
  return spawnSync("h2load", ["--version"], { stdio: "ignore" }).status === 0;
}

export interface ProbeResult {
  httpStatus: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** The response message, unframed. */
  message: Uint8Array;
}

/** Sends the request h2load will send, once, and reads the whole gRPC answer (status from the trailers). */
export async function probe(request: GrpcRequest): Promise<ProbeResult> {
  const session = connect(`http://${request.target}`);
  try {
    const stream = session.request({ ":method": "POST", ":path": request.path, ...headersOf(request) });
    stream.end(grpcFrame(request.message));
    const chunks: Buffer[] = [];
    let httpStatus = 0;
    let trailers: Record<string, unknown> = {};
    stream.on("response", (h) => {
      httpStatus = Number(h[constants.HTTP2_HEADER_STATUS]);
      // A trailers-only answer (an error) carries grpc-status in the headers.
      if (h["grpc-status"] !== undefined) trailers = h;
    });
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => stream.on("end", resolve).on("error", reject));
    const body = Buffer.concat(chunks);
    const message = body.length >= 5 ? body.subarray(5, 5 + body.readUInt32BE(1)) : new Uint8Array();
    return {
      httpStatus,
      grpcStatus: trailers["grpc-status"] as string | undefined,
      grpcMessage: trailers["grpc-message"] as string | undefined,
      message,
    };
  } finally {
    session.close();
  }
}

export interface H2loadOptions {
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  /** Runs between the warm-up and the measured run (e.g. starts the server's CPU measurement). */
  beforeMeasuring?: () => Promise<void>;
}

export type H2loadResult = LoadResult & { clientCpuMicrosPerCall: number };

/**
 * One HTTP/2 connection with `concurrency` streams in flight (as one grpc-js channel): a
 * warm-up of `warmupSeconds`, then a measured run of as many calls as the warm-up's rate makes
 * in `seconds`. A timed h2load run resets the streams still in flight when its time is up (the
 * server counts them CANCELLED); a counted one waits for every answer, so the measured run is
 * counted. Latencies come from h2load's per-request log; "errors" are what h2load saw fail at the
 * HTTP level (gRPC statuses: see the module comment).
 */
export async function runH2load(request: GrpcRequest, options: H2loadOptions): Promise<H2loadResult> {
  const dir = await mkdtemp(join(tmpdir(), "h2load-"));
  try {
    const bodyFile = join(dir, "request.bin");
    const logFile = join(dir, "requests.tsv");
    await writeFile(bodyFile, grpcFrame(request.message));
    const common = [
      "-c", "1", "-t", "1", "-m", String(options.concurrency), "-d", bodyFile,
      ...Object.entries(headersOf(request)).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      `http://${request.target}${request.path}`,
    ];
    // A cold server (JIT, first policy load) may answer nothing in a short warm-up: warm up again.
    let rate = 0;
    for (let attempt = 0; attempt < 5 && !(rate > 0); attempt++) {
      const warmup = await h2load(["-D", `${Math.round(options.warmupSeconds * 1000)}ms`, ...common]);
      rate = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(warmup)?.[1]);
    }
    if (!(rate > 0)) throw new Error("h2load's warm-ups made no calls: the server does not answer");
    await options.beforeMeasuring?.();
    const calls = Math.max(options.concurrency, Math.round(rate * options.seconds));
    const out = await h2load(["-n", String(calls), "--log-file", logFile, ...common]);
    return parseRun(out, await readFile(logFile, "utf8"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** h2load's output, followed by its CPU time as the shell's `times` prints it. */
async function h2load(args: string[]): Promise<string> {
  const child = spawn("/bin/sh", ["-c", 'h2load "$@"; code=$?; times; exit $code', "h2load", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c));
  child.stderr.on("data", (c: Buffer) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${err || out}`);
  return out;
}

function parseRun(out: string, log: string): H2loadResult {
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const finished = /finished in ([\d.]+)(m?s)/.exec(out);
  const cpu = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/gm;
  const times = [...out.matchAll(cpu)];
  if (!requests || !finished || times.length < 2) throw new Error(`cannot read h2load's output:\n${out}`);
  const child = times[1]!; // the second line of `times`: children's user and system time
  const cpuMicros = (Number(child[1]) * 60 + Number(child[2]) + Number(child[3]) * 60 + Number(child[4])) * 1e6;
  const latencies: number[] = [];
  const otherStatuses = new Map<string, number>();
  for (const line of log.split("\n")) {
    const [, status, micros] = line.split("\t");
    if (micros === undefined) continue;
    if (status === "200") latencies.push(Number(micros) / 1000);
    else otherStatuses.set(status!, (otherStatuses.get(status!) ?? 0) + 1);
  }
  const failed = Number(requests[5]) + Number(requests[6]) + Number(requests[7]);
  const httpErrors = [...otherStatuses.values()].reduce((a, b) => a + b, 0);
  const firstError = failed + httpErrors === 0 ? undefined : `h2load: ${requests[0]}; logged statuses other than 200: ${JSON.stringify(Object.fromEntries(otherStatuses))}`;
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  const result = summarize(latencies, failed + httpErrors, firstError, seconds);
  return { ...result, clientCpuMicrosPerCall: cpuMicros / Math.max(1, result.calls) };
}
