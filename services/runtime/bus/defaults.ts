import { invalidArgument } from "../errors.js";
import type { ConsumeSpec, Retention, StreamSpec } from "./bus.js";
import { checkName, checkSubject } from "./subjects.js";

/** Stream and consumer specs with every default filled in and every value checked, shared by both buses. */

export interface StreamSettings {
  name: string;
  subjects: string[];
  retention: Retention;
  /** 0 = unlimited. */
  maxAgeMs: number;
  /** -1 = unlimited. */
  maxBytes: number;
  duplicateWindowMs: number;
}

export interface ConsumerSettings {
  stream: string;
  durable: string;
  filterSubject?: string;
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
  batchSize: number;
  retryDelayMs: number;
  fillWaitMs: number;
}

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
const MAX_RETRY_DELAY_MS = 60_000;

export function streamSettings(spec: StreamSpec): StreamSettings {
  if (spec.subjects.length === 0) throw invalidArgument("subjects", "a stream needs at least one subject");
  const maxAgeMs = spec.maxAgeMs === undefined ? 0 : positive(spec.maxAgeMs, "maxAgeMs");
  // NATS refuses a duplicate window longer than the stream keeps messages.
  const defaultWindow = maxAgeMs > 0 ? Math.min(DEFAULT_DUPLICATE_WINDOW_MS, maxAgeMs) : DEFAULT_DUPLICATE_WINDOW_MS;
  return {
    name: checkName(spec.name, "stream"),
    subjects: spec.subjects.map((subject) => checkSubject(subject, { wildcards: true })),
    retention: spec.retention,
    maxAgeMs,
    maxBytes: spec.maxBytes === undefined ? -1 : positive(spec.maxBytes, "maxBytes"),
    duplicateWindowMs:
      spec.duplicateWindowMs === undefined ? defaultWindow : positive(spec.duplicateWindowMs, "duplicateWindowMs"),
  };
}

export function consumerSettings(spec: ConsumeSpec): ConsumerSettings {
  const settings = {
    stream: checkName(spec.stream, "stream"),
    durable: checkName(spec.durable, "durable"),
    filterSubject: spec.filterSubject === undefined ? undefined : checkSubject(spec.filterSubject, { wildcards: true }),
    ackWaitMs: positive(spec.ackWaitMs ?? 30_000, "ackWaitMs"),
    maxDeliver: positive(spec.maxDeliver ?? 5, "maxDeliver"),
    maxAckPending: positive(spec.maxAckPending ?? 1_000, "maxAckPending"),
    batchSize: positive(spec.batchSize ?? 10, "batchSize"),
    retryDelayMs: positive(spec.retryDelayMs ?? 1_000, "retryDelayMs"),
    fillWaitMs: spec.fillWaitMs === undefined || spec.fillWaitMs === 0 ? 0 : positive(spec.fillWaitMs, "fillWaitMs"),
  };
  if (settings.batchSize > settings.maxAckPending) {
    throw invalidArgument("batchSize", `${settings.batchSize} exceeds maxAckPending ${settings.maxAckPending}`);
  }
  return settings;
}

/** Exponential backoff: retryDelayMs after the first delivery, doubling after each further one. */
export function retryDelayMs(settings: ConsumerSettings, deliveryCount: number): number {
  return Math.min(settings.retryDelayMs * 2 ** Math.max(0, deliveryCount - 1), MAX_RETRY_DELAY_MS);
}

function positive(value: number, field: string): number {
  if (!Number.isInteger(value) || value <= 0) throw invalidArgument(field, `must be a positive integer, got ${value}`);
  return value;
}
