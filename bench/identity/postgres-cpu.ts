import { readdirSync, readFileSync } from "node:fs";
import { cpuMicrosBetween, cpuMicrosOf } from "../lib/process-cpu.js";

/** Pids of this machine's Postgres backends serving `database` (their process title names it). */
function backendsOf(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (title.startsWith("postgres: ") && title.split(" ").includes(database)) pids.push(Number(entry));
    } catch {
      // exited
    }
  }
  return pids;
}

/**
 * Inside the server child, with a Postgres server on this machine: the CPU its backends for
 * `database` used during each measured phase (between the parent's `{ phase: "start" }` and
 * `{ phase: "end" }`), sent on the parent's `{ postgresCpu: true }` as `{ postgresCpuMicros }`
 * (undefined when no backend is on this machine).
 */
export function servePostgresCpuPhases(database: string): void {
  let before = new Map<number, number>();
  let used: number | undefined;
  process.on("message", (message: { phase?: "start" | "end"; postgresCpu?: true }) => {
    if (message.phase === "start") before = cpuMicrosOf(backendsOf(database));
    if (message.phase === "end") {
      const after = cpuMicrosOf(backendsOf(database));
      // None seen: the server is on another machine, out of reach of /proc.
      used = after.size > 0 ? cpuMicrosBetween(before, after) : undefined;
    }
    if (message.postgresCpu) process.send?.({ postgresCpuMicros: used });
  });
}
