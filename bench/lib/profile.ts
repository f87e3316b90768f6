import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "node:inspector/promises";

/**
 * Inside a server child: when ROLLCALL_BENCH_PROFILE_DIR is set, records a V8 CPU profile of each
 * measured phase (between the parent's `{ phase: "start" }` and `{ phase: "end" }`) into that
 * folder, one `.cpuprofile` per phase (open in Chrome DevTools or speedscope). Profiling slows the
 * server: figures of a profiled run are not the benchmark's.
 */
export function profilePhases(name: string, dir = process.env.ROLLCALL_BENCH_PROFILE_DIR): void {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  let phase = 0;
  let running: Promise<unknown> = session.post("Profiler.enable");
  process.on("message", (message: { phase?: "start" | "end" }) => {
    if (message.phase === "start") running = running.then(() => session.post("Profiler.start"));
    if (message.phase === "end") {
      const file = join(dir, `${name}-${++phase}.cpuprofile`);
      running = running
        .then(() => session.post("Profiler.stop"))
        .then(({ profile }) => writeFileSync(file, JSON.stringify(profile)));
    }
  });
}
