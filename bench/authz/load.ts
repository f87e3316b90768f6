/**
 * Load generator of the authz gRPC benchmark (its own process):
 *   load.ts <check|batch> <target> <concurrency> <ms> <queries.json> <token>
 * "check" sends one Check per call; "batch" sends BatchChecks of 1,000 items for one subject.
 * Requests are built before the clock starts, so the generator spends its CPU on calls, not on
 * making messages: on two cores it competes with the server under test.
 */
import { readFile } from "node:fs/promises";
import { create } from "@bufbuild/protobuf";
import { AuthzService, BatchCheckRequestSchema, CheckRequestSchema } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { runLoad } from "../lib/load.js";
import { report } from "../lib/child.js";
import { benchBatch, type BenchQuery } from "./policy.js";

const [kind, target, concurrency, durationMs, queriesFile, token] = process.argv.slice(2);
const queries = JSON.parse(await readFile(queriesFile!, "utf8")) as BenchQuery[];
const client = createClient(AuthzService, target!, { bearer: () => token });

const checks = queries.map((q) => create(CheckRequestSchema, q));
const batches = Array.from({ length: 100 }, (_, b) => create(BatchCheckRequestSchema, benchBatch(queries, b)));

const WARMUP_MS = 1500;
let next = 0;
const call = kind === "batch" ? () => client.batchCheck(batches[next++ % batches.length]!) : () => client.check(checks[next++ % checks.length]!);

try {
  report.ready();
  const before = process.cpuUsage();
  const result = await runLoad(call, { concurrency: Number(concurrency), durationMs: Number(durationMs), warmupMs: WARMUP_MS });
  const used = process.cpuUsage(before);
  // The generator's own CPU per call (its warm-up share taken out): with the server's, it says
  // how many calls two shared cores can carry at all.
  const measuredShare = result.seconds / (result.seconds + WARMUP_MS / 1000);
  report.result({ ...result, clientCpuMicrosPerCall: ((used.user + used.system) * measuredShare) / result.calls });
} catch (err) {
  report.error(err);
}
process.exit(0);
