import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HeartbeatSchema } from "../../../gen/rollcall/audit/v1/bus_pb.js";
import { HealthStatus } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { Logger } from "../../../services/runtime/logger.js";

export interface HeartbeatState {
  status: "UP" | "DEGRADED";
  metadata: JsonObject;
}

/**
 * Every `intervalMs`, a Heartbeat on `health.device:<id>` for audit's fleet view: status (UP, or
 * DEGRADED while spooling or while the source is down), CPU and memory, and counters. Best effort: a missed one is not
 * spooled, audit marks the device DOWN after three.
 */
export class HeartbeatSender {
  private timer: NodeJS.Timeout | undefined;
  private lastCpu = process.cpuUsage();
  private lastAt = Date.now();
  sent = 0;

  constructor(
    private readonly deviceId: string,
    private readonly intervalMs: number,
    private readonly state: () => HeartbeatState,
    private readonly publish: (component: string, data: Uint8Array) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  get component(): string {
    return `device:${this.deviceId}`;
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, now - this.lastAt)) * 100;
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const { status, metadata } = this.state();
    const message = create(HeartbeatSchema, {
      component: this.component,
      instance: this.deviceId,
      status: status === "UP" ? HealthStatus.UP : HealthStatus.DEGRADED,
      cpuUsage: Math.round(cpuPercent * 10) / 10,
      memoryUsage: BigInt(process.memoryUsage.rss()),
      metadata,
      sentAt: timestampFromDate(new Date(now)),
    });
    try {
      await this.publish(this.component, toBinary(HeartbeatSchema, message));
      this.sent++;
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, "heartbeat not sent");
    }
  }
}
