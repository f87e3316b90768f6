import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { pino } from "pino";
import { SystemLogEntrySchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { LogLevel } from "../../gen/rollcall/audit/v1/types_pb.js";
import { subjects, type Bus } from "./bus/bus.js";
import { subjectToken } from "./bus/subjects.js";
import { STREAMS } from "./bus/streams.js";
import type { Logger } from "./logger.js";

export interface LogForwarderOptions {
  /** hostname/pid. */
  instance: string;
  /** Service name of lines that carry none (the host's own). */
  fallbackService: string;
  /** Lines per second forwarded on average, and the burst allowed above it. */
  ratePerSec?: number;
  burst?: number;
}

const WARN = 40;
const LEVELS: Record<number, LogLevel> = { 40: LogLevel.WARN, 50: LogLevel.ERROR, 60: LogLevel.FATAL };
const MAX_IN_FLIGHT = 64;
const OMIT = new Set(["level", "time", "msg", "pid", "hostname", "service"]);

/**
 * Forwards warn/error/fatal log lines to the LOGS stream (subject `logs.{service}`), where the
 * audit service stores them as system_logs. A token bucket bounds what a log storm can put on
 * the bus; what it drops is counted and reported in the next line forwarded. Forwarding never
 * blocks or fails the code that logged, and its own problems go to the plain logger only, so a
 * failing bus cannot feed itself.
 */
export class LogForwarder {
  private tokens: number;
  private refilledAt = Date.now();
  private dropped = 0;
  private inFlight = 0;
  private streamReady: Promise<void> | undefined;
  private readonly rate: number;
  private readonly burst: number;

  constructor(private readonly bus: Bus, private readonly options: LogForwarderOptions, private readonly plainLogger: Logger) {
    this.rate = options.ratePerSec ?? 20;
    this.burst = options.burst ?? 100;
    this.tokens = this.burst;
  }

  /** A pino line (JSON) at warn or above. */
  forward(line: string): void {
    if (!this.take() || this.inFlight >= MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const dropped = this.dropped;
    this.dropped = 0;
    const metadata: JsonObject = {};
    for (const [key, value] of Object.entries(record)) if (!OMIT.has(key)) metadata[key] = value as JsonObject[string];
    if (dropped > 0) metadata.droppedBefore = dropped;
    const metadataJson = JSON.stringify(metadata);
    const service = typeof record.service === "string" ? record.service : this.options.fallbackService;
    const entry = create(SystemLogEntrySchema, {
      level: LEVELS[Math.min(60, Math.floor(Number(record.level) / 10) * 10)] ?? LogLevel.WARN,
      service,
      instance: this.options.instance,
      message: String(record.msg ?? (record.err as { message?: string } | undefined)?.message ?? "").slice(0, 4096),
      metadata: metadataJson.length > 16 * 1024 ? { truncated: true, originalBytes: metadataJson.length } : metadata,
      loggedAt: timestampFromDate(typeof record.time === "number" ? new Date(record.time) : new Date()),
    });
    this.inFlight++;
    void this.publish(safeToken(service), toBinary(SystemLogEntrySchema, entry))
      .catch((err: unknown) => {
        this.dropped++;
        this.plainLogger.debug({ err }, "could not forward a log line to the bus");
      })
      .finally(() => this.inFlight--);
  }

  private async publish(service: string, data: Uint8Array): Promise<void> {
    this.streamReady ??= this.bus.ensureStream(STREAMS.logs).catch((err: unknown) => {
      this.streamReady = undefined;
      throw err;
    });
    await this.streamReady;
    await this.bus.publish(subjects.logs(service), data);
  }

  private take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/**
 * A child of `base` whose lines also reach the forwarder when at warn or above. The child logs
 * at least warn (so a "silent" process still forwards), while its console output keeps base's level.
 */
export function forwardingLogger(base: Logger, forwarder: LogForwarder): Logger {
  const child = base.child({});
  const destination = (base as unknown as Record<symbol, { write(line: string): void; flush?(cb?: (err?: Error) => void): void }>)[pino.symbols.streamSym]!;
  const consoleLevel = base.levelVal;
  (child as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = {
    write(line: string) {
      const level = levelOf(line);
      if (level >= consoleLevel) destination.write(line);
      if (level >= WARN) forwarder.forward(line);
    },
    flush(cb?: (err?: Error) => void) {
      if (destination.flush) destination.flush(cb);
      else cb?.();
    },
  };
  if (consoleLevel > WARN) child.level = "warn";
  return child;
}

/** pino writes the level first: `{"level":40,...`. */
function levelOf(line: string): number {
  const match = /^\{"level":(\d+)/.exec(line);
  return match ? Number(match[1]) : 0;
}

function safeToken(service: string): string {
  try {
    return subjectToken(service);
  } catch {
    return service.replace(/[.*>\s]/g, "_") || "unknown";
  }
}
