import { EnvReader } from "../runtime/config.js";

/**
 * Attendance's own settings, read from the environment at start and validated as a whole.
 * Debounce and minimum confidence are defaults: each organisation may override them in
 * identity's config (`attendance.debounce_seconds`, `attendance.min_confidence`).
 */
export interface AttendanceConfig {
  /** Sightings by one camera of one person closer than this collapse into one event. */
  debounceSec: number;
  /** Percent (similarity × 100) below which a recognition is not attendance. */
  minConfidence: number;
  /** How long organisation settings and device directions read from identity are reused. */
  directoryCacheMs: number;
  /** How often the closer looks for ended days to turn into records. */
  closeIntervalMs: number;
  /** Most recognitions handled in one transaction. */
  ingestBatch: number;
}

type Env = Record<string, string | undefined>;

export function loadAttendanceConfig(env: Env = process.env): AttendanceConfig {
  const read = new EnvReader(env);
  const config: AttendanceConfig = {
    debounceSec: read.integer("ROLLCALL_ATTENDANCE_DEBOUNCE_SEC", 60, 0, 86_400),
    minConfidence: read.number("ROLLCALL_ATTENDANCE_MIN_CONFIDENCE", 45, 0, 100),
    directoryCacheMs: read.integer("ROLLCALL_ATTENDANCE_DIRECTORY_CACHE_MS", 30_000, 0, 3_600_000),
    closeIntervalMs: read.integer("ROLLCALL_ATTENDANCE_CLOSE_INTERVAL_SEC", 60, 1, 3_600) * 1000,
    ingestBatch: read.integer("ROLLCALL_ATTENDANCE_INGEST_BATCH", 256, 1, 1_000),
  };
  read.check();
  return config;
}
