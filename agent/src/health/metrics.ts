import { Counter, Gauge, Histogram } from "prom-client";
import { Metrics } from "../../../services/runtime/metrics.js";

/**
 * The agent's Prometheus metrics, on the runtime's registry (process and Node defaults come
 * with it). Counters end in _total; durations are in seconds; sizes in bytes.
 */
export class AgentMetrics extends Metrics {
  readonly framesCaptured = this.counter("rollcall_agent_frames_captured_total", "Frames taken from the source (after sampling to --fps).");
  readonly framesProcessed = this.counter("rollcall_agent_frames_processed_total", "Frames the detector ran on.");
  readonly framesMotionSkipped = this.counter("rollcall_agent_frames_motion_skipped_total", "Frames skipped because nothing moved.");
  readonly faces = this.counter("rollcall_agent_faces_detected_total", "Faces the detector found, over all processed frames.");
  readonly tracks = this.counter("rollcall_agent_tracks_started_total", "Face tracks started (people seen).");
  readonly cropsSent = this.counter("rollcall_agent_crops_sent_total", "Face crops handed to the transport (published now or spooled).");
  readonly messagesPublished = this.counter("rollcall_agent_messages_published_total", "Frame messages NATS JetStream acknowledged.");
  readonly spoolDropped = this.counter("rollcall_agent_spool_dropped_total", "Messages lost by the spool: the oldest deleted to stay under its size cap, plus any it could not write or read back (logged as errors).");
  readonly detectionSeconds = new Histogram({
    name: "rollcall_agent_detection_duration_seconds",
    help: "Face detection time per processed frame, in seconds.",
    labelNames: ["backend"],
    buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512],
    registers: [this.registry],
  });
  readonly spoolBytes = this.gauge("rollcall_agent_spool_bytes", "Bytes of messages waiting in the spool directory.");
  readonly spoolMessages = this.gauge("rollcall_agent_spool_messages", "Messages waiting in the spool directory.");
  readonly spoolAge = this.gauge("rollcall_agent_spool_oldest_age_seconds", "Age of the oldest spooled message, in seconds (0 when empty).");
  readonly connected = this.gauge("rollcall_agent_connected", "1 while messages are being published to NATS, 0 while they are spooled.");
  readonly sourceUp = this.gauge("rollcall_agent_source_up", "1 while the source gives frames, 0 while a live source (stream, camera) that dropped is being reopened.");
  readonly sourceReconnects = this.counter("rollcall_agent_source_reconnects_total", "Outages of a live source that ended: it was reopened and gave frames again.");

  /** Sets the gauges that mirror state (spool, connection); called before every scrape. */
  refresh: () => void = () => {};

  constructor(deviceId: string) {
    super({ device: deviceId });
  }

  override async exposition(): Promise<{ contentType: string; body: string }> {
    this.refresh();
    return super.exposition();
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }
}
