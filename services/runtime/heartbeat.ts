import { hostname } from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HeartbeatSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { HealthStatus } from "../../gen/rollcall/audit/v1/types_pb.js";
import { subjects, type Bus } from "./bus/bus.js";
import { STREAMS } from "./bus/streams.js";
import { StreamPublisher } from "./bus/stream-publisher.js";
import type { Logger } from "./logger.js";

/** Readiness as the heartbeat reports it: every check's state ("ok" or why not). */
export type ReadinessProbe = () => Promise<{ ready: boolean; checks: Record<string, string> }>;

/**
 * Sends a Heartbeat for each service of this process on `health.{service}` every interval:
 * UP when every readiness check passes, DEGRADED otherwise, with the process's CPU (percent of
 * one core since the last beat) and resident memory. The audit service marks a component DOWN
 * when three beats are missed.
 */
export class HeartbeatPublisher {
  private timer: NodeJS.Timeout | undefined;
  private cpuMark = process.cpuUsage();
  private wallMark = performance.now();
  private readonly stream: StreamPublisher;
  private readonly instance = `${hostname()}/${process.pid}`;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly bus: Bus, private readonly components: readonly string[], private readonly intervalMs: number, private readonly probe: ReadinessProbe, logger: Logger) {
    this.stream = new StreamPublisher(bus, STREAMS.health, logger);
  }

  start(): void {
    const beat = () => {
      this.sending = this.sending.then(() => this.beat());
    };
    beat();
    this.timer = setInterval(beat, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sending;
  }

  private async beat(): Promise<void> {
    const { ready, checks } = await this.probe().catch((err: unknown) => ({ ready: false, checks: { probe: (err as Error).message } }));
    const cpu = process.cpuUsage(this.cpuMark);
    const wall = performance.now() - this.wallMark;
    this.cpuMark = process.cpuUsage();
    this.wallMark = performance.now();
    const cpuUsage = wall > 0 ? ((cpu.user + cpu.system) / 1000 / wall) * 100 : 0;
    for (const component of this.components) {
      const heartbeat = create(HeartbeatSchema, {
        component,
        instance: this.instance,
        status: ready ? HealthStatus.UP : HealthStatus.DEGRADED,
        cpuUsage,
        memoryUsage: BigInt(process.memoryUsage.rss()),
        metadata: { pid: process.pid, node: process.version, uptimeSec: Math.round(process.uptime()), checks },
        sentAt: timestampFromDate(new Date()),
      });
      await this.stream.publish(subjects.health(component), toBinary(HeartbeatSchema, heartbeat), `${component}/${this.instance}/${Date.now()}`, { component });
    }
  }
}
