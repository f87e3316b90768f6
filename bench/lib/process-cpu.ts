import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/**
 * CPU time (µs, user + system) that processes of this machine have used so far, by pid, from
 * /proc/<pid>/stat. A pid that has gone is left out. Resolution is one clock tick (usually 10 ms),
 * fine over thousands of calls.
 */
export function cpuMicrosOf(pids: number[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    const micros = processCpuMicros(pid);
    if (micros !== undefined) used.set(pid, micros);
  }
  return used;
}

/** CPU time (µs, user + system) one process has used so far, or undefined once it is gone. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

/** CPU used between two samples; a process that appeared in between counts from zero. */
export function cpuMicrosBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, micros] of after) total += micros - (before.get(pid) ?? 0);
  return total;
}
