import { execFileSync } from "node:child_process";
import type pg from "pg";
import { processCpuMicros } from "../lib/process-cpu.js";

/** CPU seconds (user + system) a process has used so far, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  const micros = processCpuMicros(pid);
  return micros === undefined ? undefined : micros / 1e6;
}

/** The pid of the local nats-server, when one runs on this machine. */
export function natsServerPid(): number | undefined {
  try {
    const pid = Number(execFileSync("pgrep", ["-o", "-x", "nats-server"], { encoding: "utf8" }).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU used by a set of processes between start() and the last sample(): processes that appear
 * in between (new Postgres backends) count from zero, and processes that exit keep their last
 * sample, so sample often (the drain loop polls every 100 ms).
 */
export class CpuMeter {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();

  constructor(private readonly pids: () => Promise<number[]> | number[]) {}

  async start(): Promise<void> {
    for (const pid of await this.pids()) {
      const cpu = cpuSeconds(pid);
      if (cpu !== undefined) this.first.set(pid, cpu);
    }
  }

  async sample(): Promise<void> {
    for (const pid of await this.pids()) {
      const cpu = cpuSeconds(pid);
      if (cpu === undefined) continue;
      if (!this.first.has(pid)) this.first.set(pid, 0);
      this.last.set(pid, cpu);
    }
  }

  seconds(): number {
    let total = 0;
    for (const [pid, cpu] of this.last) total += cpu - (this.first.get(pid) ?? 0);
    return total;
  }
}

/** The pids of the Postgres backends connected to one database (the audit service's pool). */
export async function backendPids(client: pg.Client, database: string): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
  return rows.map((row) => row.pid);
}
