/**
 * One person's day: the events, what they add up to, and how a new sighting becomes (or does
 * not become) an event. Pure functions, shared by ingest, today's state, and the day closer.
 */

export type EventType = "IN" | "OUT";
export type Source = "CAMERA" | "MANUAL" | "API";
export type Direction = "IN" | "OUT" | "BOTH";

export interface DayEvent {
  id: string;
  eventId: string;
  type: EventType;
  time: Date;
  deviceId: string | null;
  confidence: number;
  source: Source;
  actorId: string | null;
  reason: string | null;
  attendanceId: string | null;
  createdAt: Date;
}

export interface DaySummary {
  firstIn: Date | undefined;
  lastOut: Date | undefined;
  /** Whole minutes over IN→OUT intervals; the open interval counts only up to `until`, if given. */
  totalMinutes: number;
  /** The last event is IN: still in (today), or no OUT by the end of the day (a closed day). */
  openInterval: boolean;
  /** Start of the interval still open. */
  openSince: Date | undefined;
  /** Device of the IN that opened it. */
  openDeviceId: string | null;
  /** Lowest confidence of the events; 100 without events. */
  confidence: number;
  source: Source;
}

export function byTime(a: DayEvent, b: DayEvent): number {
  return a.time.getTime() - b.time.getTime() || a.createdAt.getTime() - b.createdAt.getTime() || a.eventId.localeCompare(b.eventId);
}

/**
 * Walks the events in time order. An IN opens an interval (a second IN while in changes
 * nothing); an OUT closes it. An OUT after the interval already closed moves its end later:
 * a BOTH camera's "later sightings move OUT". An OUT with no IN before it adds nothing.
 */
export function summarize(events: readonly DayEvent[], until?: Date): DaySummary {
  const sorted = [...events].sort(byTime);
  let firstIn: Date | undefined;
  let lastOut: Date | undefined;
  let openSince: Date | undefined;
  let openDeviceId: string | null = null;
  let lastClosed: { start: number; end: number } | undefined;
  let closedMs = 0;
  let confidence = 100;
  let source: Source = sorted.length > 0 ? "CAMERA" : "MANUAL";
  const sources = new Set(sorted.map((e) => e.source));
  if (sources.has("MANUAL")) source = "MANUAL";
  else if (sources.has("API")) source = "API";
  for (const e of sorted) {
    confidence = Math.min(confidence, e.confidence);
    if (e.type === "IN") {
      firstIn ??= e.time;
      if (!openSince) {
        openSince = e.time;
        openDeviceId = e.deviceId;
      }
      continue;
    }
    lastOut = e.time;
    if (openSince) {
      lastClosed = { start: openSince.getTime(), end: e.time.getTime() };
      closedMs += lastClosed.end - lastClosed.start;
      openSince = undefined;
      openDeviceId = null;
    } else if (lastClosed && e.time.getTime() > lastClosed.end) {
      closedMs += e.time.getTime() - lastClosed.end;
      lastClosed.end = e.time.getTime();
    }
  }
  const openMs = openSince && until ? Math.max(0, until.getTime() - openSince.getTime()) : 0;
  return {
    firstIn,
    lastOut,
    totalMinutes: Math.floor((closedMs + openMs) / 60_000),
    openInterval: openSince !== undefined,
    openSince,
    openDeviceId,
    confidence,
    source,
  };
}

export interface Sighting {
  eventId: string;
  deviceId: string;
  time: Date;
  confidence: number;
}

export interface IngestRules {
  /** Sightings by the same camera closer than this to an accepted one are collapsed. */
  debounceMs: number;
  /** Percent; sightings below it are not attendance. */
  minConfidence: number;
}

export type Decision = { accept: EventType } | { drop: "duplicate" | "debounced" | "low_confidence" };

/**
 * What a recognised sighting means for a person's day so far: an IN or OUT event, or nothing.
 * IN and OUT cameras give their direction; a BOTH camera gives IN when nothing before it today
 * was an IN (the first sighting of the day) and OUT afterwards.
 */
export function decide(day: readonly DayEvent[], sighting: Sighting, direction: Direction, rules: IngestRules): Decision {
  if (day.some((e) => e.eventId === sighting.eventId)) return { drop: "duplicate" };
  if (sighting.confidence < rules.minConfidence) return { drop: "low_confidence" };
  const t = sighting.time.getTime();
  if (day.some((e) => e.deviceId === sighting.deviceId && Math.abs(e.time.getTime() - t) < rules.debounceMs)) return { drop: "debounced" };
  if (direction !== "BOTH") return { accept: direction };
  return { accept: day.some((e) => e.type === "IN" && e.time.getTime() <= t) ? "OUT" : "IN" };
}

/** Similarity (cosine, -1..1) as the percent stored with an event, two decimals. */
export function confidencePercent(similarity: number): number {
  const clamped = Math.min(1, Math.max(0, similarity));
  return Math.round(clamped * 10_000) / 100;
}
