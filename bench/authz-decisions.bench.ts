/**
 * Authz decisions inside the service, on one core: the compiled policy against node-casbin's
 * enforce() and enforceSync() on the same policy, and the memory a compiled policy holds per
 * assignment.
 *   npm run bench:authz -- [--seconds 3] [--rounds 3] [--casbin-seconds 3] [--record]
 */
import { CompiledPolicy } from "../services/authz/policy/compiled-policy.js";
import { casbinOf } from "../test/authz/support/random-policy.js";
import { numberFlag } from "./lib/flags.js";
import { formatNumber, publish, table } from "./lib/results.js";
import { benchPolicy, benchQueries, ISSUE_POLICY, type BenchQuery } from "./authz/policy.js";

const seconds = numberFlag("--seconds", 3);
const rounds = numberFlag("--rounds", 3);
const casbinSeconds = numberFlag("--casbin-seconds", 3);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:authz does)");

const rows = benchPolicy(ISSUE_POLICY);
const compileStarted = performance.now();
const policies = new Map(rows.map((r) => [r.organizationId, new CompiledPolicy(r)]));
const compileMs = performance.now() - compileStarted;
const QUERIES = 1 << 20;
const queries = benchQueries(rows, QUERIES);

/** Checks per second over `ms`, in batches so the clock is read rarely. */
function measure(ms: number, decide: (q: BenchQuery) => boolean): { perSecond: number; allowedShare: number } {
  let done = 0;
  let allowed = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (let i = 0; i < 100_000; i++) if (decide(queries[(done + i) & (QUERIES - 1)]!)) allowed++;
    done += 100_000;
  }
  return { perSecond: done / ((performance.now() - started) / 1000), allowedShare: allowed / done };
}

const compiled = (q: BenchQuery) => policies.get(q.organizationId)!.check(q.subjectId, q.resource, q.action, q.ownerId).allowed;
measure(1000, compiled); // warm-up: JIT
const ours = Array.from({ length: rounds }, () => measure(seconds * 1000, compiled));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const oursPerSecond = median(ours.map((r) => r.perSecond));

const casbin = await casbinOf(rows);
const casbinSync = measureCalls(casbinSeconds * 1000, (q) => casbin.enforceSync(q.subjectId, q.organizationId, q.resource, q.action, q.ownerId ?? ""));
const casbinAsync = await measureAsync(casbinSeconds * 1000, (q) => casbin.enforce(q.subjectId, q.organizationId, q.resource, q.action, q.ownerId ?? ""));

function measureCalls(ms: number, decide: (q: BenchQuery) => boolean): number {
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < ms) decide(queries[done++ & (QUERIES - 1)]!);
  return done / ((performance.now() - started) / 1000);
}

async function measureAsync(ms: number, decide: (q: BenchQuery) => Promise<boolean>): Promise<number> {
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < ms) await decide(queries[done++ & (QUERIES - 1)]!);
  return done / ((performance.now() - started) / 1000);
}

/** Heap a compiled policy keeps per assignment, for one organisation of 500k users with 2 roles each. */
async function memoryPerAssignment(): Promise<{ assignments: number; bytesPer: number; totalMb: number; compileMs: number }> {
  const settledHeap = async () => {
    // Sweeping finishes after gc() returns; measuring at once would count garbage.
    for (let i = 0; i < 3; i++) {
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return process.memoryUsage().heapUsed;
  };
  const before = await settledHeap();
  let big = benchPolicy({ ...ISSUE_POLICY, organizations: 1, users: 500_000 }, 3)[0]!;
  const assignments = big.subjects.length * ISSUE_POLICY.rolesPerUser;
  const started = performance.now();
  const policy = new CompiledPolicy(big);
  const ms = performance.now() - started;
  big = undefined as never; // the rows are garbage once compiled; the subject ids live on in the policy
  const held = (await settledHeap()) - before;
  if (policy.stats().subjects === 0) throw new Error("unreachable: keeps the policy alive until measured");
  return { assignments, bytesPer: held / assignments, totalMb: held / 2 ** 20, compileMs: ms };
}
const memory = await memoryPerAssignment();

const stats = [...policies.values()].map((p) => p.stats());
await publish(
  "Authz: decisions in-process on one core, compiled policy vs node-casbin",
  `Policy: ${ISSUE_POLICY.organizations} organisations x ${ISSUE_POLICY.roles} roles x ${ISSUE_POLICY.grantsPerRole} grants over ${ISSUE_POLICY.resources} resources ` +
    `(${stats[0]!.slots} permissions each), ${ISSUE_POLICY.users.toLocaleString("en-US")} users with ${ISSUE_POLICY.rolesPerUser} roles each ` +
    `(${stats.reduce((n, s) => n + s.roleSets, 0)} distinct role sets); compiled in ${compileMs.toFixed(0)} ms. ` +
    `${QUERIES.toLocaleString("en-US")} pre-generated random checks (organisation, subject, resource, action, owner unset / own / someone else's); ` +
    `${(ours[0]!.allowedShare * 100).toFixed(0)}% allowed. One Node thread; median of ${rounds} runs of ${seconds} s.\n\n` +
    table([
      { engine: "Rollcall compiled policy (check by name)", "checks/s": oursPerSecond, "vs enforceSync": oursPerSecond / casbinSync },
      { engine: "node-casbin enforceSync()", "checks/s": casbinSync, "vs enforceSync": 1 },
      { engine: "node-casbin enforce() (async)", "checks/s": casbinAsync, "vs enforceSync": casbinAsync / casbinSync },
    ]) +
    `\n\nRuns: ${ours.map((r) => formatNumber(r.perSecond)).join(", ")} checks/s. The compiled policy decides ` +
    `${formatNumber(oursPerSecond / casbinSync)}x faster than enforceSync() and ${formatNumber(oursPerSecond / casbinAsync)}x faster than enforce().\n\n` +
    `Memory: a compiled organisation with ${memory.assignments.toLocaleString("en-US")} assignments holds ${memory.totalMb.toFixed(0)} MiB of heap ` +
    `(${memory.bytesPer.toFixed(0)} bytes per assignment, subject ids included); compiled in ${(memory.compileMs / 1000).toFixed(2)} s.`,
);
