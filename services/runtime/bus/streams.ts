import type { StreamSpec } from "./bus.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The JetStream streams of the mesh (data-model.md). Publishers and consumers both ensure the
 * stream they use at start (idempotent), so start order never matters.
 */
export const STREAMS: Record<"frames" | "recognitions" | "audit" | "events" | "health" | "logs", StreamSpec> = {
  /** agent → vision; a work queue: a frame is processed once, by one vision replica. */
  frames: { name: "FRAMES", subjects: ["frames.>"], retention: "workqueue", maxAgeMs: 10 * 60_000, maxBytes: 1024 ** 3 },
  /** vision → attendance (and audit for unknowns). */
  recognitions: { name: "RECOGNITIONS", subjects: ["recognitions.>"], retention: "limits", maxAgeMs: 7 * DAY },
  /** every service → audit. Kept a week so an audit outage loses nothing. */
  audit: { name: "AUDIT", subjects: ["audit.>"], retention: "limits", maxAgeMs: 7 * DAY },
  /** platform events (unknown faces, lockouts, device down) → audit notifications. */
  events: { name: "EVENTS", subjects: ["events.>"], retention: "limits", maxAgeMs: 7 * DAY },
  /** heartbeats → audit's fleet health. */
  health: { name: "HEALTH", subjects: ["health.>"], retention: "limits", maxAgeMs: DAY },
  /** services' warn/error log lines (runtime/log-forwarder.ts) → audit's system_logs. */
  logs: { name: "LOGS", subjects: ["logs.>"], retention: "limits", maxAgeMs: DAY, maxBytes: 256 * 1024 ** 2 },
};
