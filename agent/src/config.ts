import { statSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../../services/runtime/config.js";

export type SourceKind = "file" | "dir" | "url" | "camera";
export type DetectorBackend = "dnn" | "onnxruntime";
export type TransportKind = "nats" | "grpc";
export type TokenSource = { via: "gateway"; url: string } | { via: "identity"; address: string };

/** Everything the agent runs with, validated once at start (flags win over environment). */
export interface AgentConfig {
  source: { kind: SourceKind; location: string; cameraIndex?: number };
  /** Frames per second the pipeline takes from the source (a faster source is sampled down). */
  fps: number;
  /** File and directory sources are paced to `fps` in wall-clock time; off = as fast as possible. */
  realtime: boolean;
  /** Loop a file or directory source forever (benchmarks, demos). */
  loop: boolean;
  /** A live source silent this long has dropped (and is reopened); it also bounds one attempt to open a stream. */
  sourceTimeoutMs: number;
  /** Frames are scaled down to at most this width before anything else. */
  maxWidth: number;
  motion: { enabled: boolean; width: number; pixelThreshold: number; minAreaFraction: number; keyframeMs: number };
  detector: { backend: DetectorBackend; modelsDir: string; minScore: number; threads: number };
  tracker: { minIou: number; maxMissedFrames: number; maxIdleMs: number; minHits: number };
  crops: { perTrack: number; resendAfterMs: number; minImprovement: number; margin: number; maxSide: number; jpegQuality: number; fullFrames: boolean };
  /** Device tokens come from the public gateway (in a cluster) or straight from identity (development). */
  device: { id: string; secret: string; tokens: TokenSource; organizationId?: string };
  /** nats: publish to FRAMES; grpc: VisionService.StreamFrames to visionAddress (set exactly then). */
  transport: { kind: TransportKind; natsUrl: string; visionAddress?: string; namespace: string; publishTimeoutMs: number; memoryQueue: number; retryMs: number };
  spool: { dir: string; maxBytes: number };
  health: { host: string; metricsPort: number; heartbeatMs: number };
  shutdownGraceMs: number;
  logLevel: string;
}

/** One option: its flag, environment variable, default and meaning (the `--help` text). */
export interface OptionSpec {
  flag: string;
  env: string;
  description: string;
  default?: string;
}

/** Dead streams are noticed in seconds (FFmpeg's own default through OpenCV is 30 s). */
export const DEFAULT_SOURCE_TIMEOUT_MS = 5000;

export const OPTIONS = {
  source: { flag: "--source <src>", env: "ROLLCALL_AGENT_SOURCE", description: "where frames come from: a video file, a directory of images (read in name order), an rtsp:// or http(s):// stream URL, or a local camera (/dev/videoN or its index N)" },
  fps: { flag: "--fps <n>", env: "ROLLCALL_AGENT_FPS", description: "frames per second taken from the source (0.1-120); faster sources are sampled down, directories are played at this rate", default: "10" },
  realtime: { flag: "--realtime <bool>", env: "ROLLCALL_AGENT_REALTIME", description: "pace file and directory sources to --fps in wall-clock time (false: as fast as the pipeline runs)", default: "true" },
  loop: { flag: "--loop <bool>", env: "ROLLCALL_AGENT_LOOP", description: "start a file or directory source again at its end", default: "false" },
  sourceTimeout: { flag: "--source-timeout-ms <ms>", env: "ROLLCALL_AGENT_SOURCE_TIMEOUT_MS", description: "a stream or camera that ends, fails or sends nothing for this long has dropped: the agent stays up (/readyz 503, rollcall_agent_source_up 0) and reopens it, waiting 0.5 s doubling to 30 s between tries, until frames come again or SIGTERM. Also bounds one try to open a stream. Streams: FFmpeg's socket timeout (a `timeout` the operator sets in OPENCV_FFMPEG_CAPTURE_OPTIONS wins); cameras: V4L2's, in whole seconds (500-120000)", default: String(DEFAULT_SOURCE_TIMEOUT_MS) },
  maxWidth: { flag: "--max-width <px>", env: "ROLLCALL_AGENT_MAX_WIDTH", description: "frames wider than this are scaled down first (160-3840)", default: "1280" },
  motion: { flag: "--motion <bool>", env: "ROLLCALL_AGENT_MOTION", description: "skip frames without motion (frame differencing on a small grey copy); false = detect on every frame", default: "true" },
  motionWidth: { flag: "--motion-width <px>", env: "ROLLCALL_AGENT_MOTION_WIDTH", description: "width of the grey copy motion is measured on (32-640)", default: "160" },
  motionThreshold: { flag: "--motion-threshold <0-255>", env: "ROLLCALL_AGENT_MOTION_THRESHOLD", description: "grey-level change for a pixel to count as moved", default: "25" },
  motionArea: { flag: "--motion-area <fraction>", env: "ROLLCALL_AGENT_MOTION_AREA", description: "fraction of moved pixels (0-1) that makes a frame worth detecting on", default: "0.003" },
  keyframe: { flag: "--keyframe-ms <ms>", env: "ROLLCALL_AGENT_KEYFRAME_MS", description: "detect at least this often even without motion (0 = never)", default: "2000" },
  backend: { flag: "--detector <backend>", env: "ROLLCALL_AGENT_DETECTOR", description: "run YuNet with OpenCV's dnn module (dnn) or with onnxruntime (onnxruntime)", default: "onnxruntime" },
  modelsDir: { flag: "--models <dir>", env: "ROLLCALL_MODELS_DIR", description: "directory with the YuNet models, checked by sha256: face_detection_yunet_s_dynamic.onnx for onnxruntime (`npm run models` puts it in models/), face_detection_yunet_2023mar.onnx for dnn (from ../shared/models)", default: "models" },
  minScore: { flag: "--min-score <0-1>", env: "ROLLCALL_AGENT_MIN_SCORE", description: "faces the detector scores below this are ignored", default: "0.7" },
  threads: { flag: "--threads <n>", env: "ROLLCALL_AGENT_THREADS", description: "detector threads (1 = one core)", default: "1" },
  trackIou: { flag: "--track-iou <0-1>", env: "ROLLCALL_AGENT_TRACK_IOU", description: "overlap for a face to continue a track from the previous frame", default: "0.3" },
  trackMissed: { flag: "--track-missed <frames>", env: "ROLLCALL_AGENT_TRACK_MISSED", description: "processed frames a track may go unseen before it ends", default: "5" },
  trackIdle: { flag: "--track-idle-ms <ms>", env: "ROLLCALL_AGENT_TRACK_IDLE_MS", description: "a track unseen for this long ends (also when frames were motion-skipped)", default: "3000" },
  trackMinHits: { flag: "--track-min-hits <n>", env: "ROLLCALL_AGENT_TRACK_MIN_HITS", description: "detections before a track's first crop is sent (filters one-frame false positives)", default: "1" },
  cropsPerTrack: { flag: "--crops-per-track <n>", env: "ROLLCALL_AGENT_CROPS_PER_TRACK", description: "most crops sent for one track (the first at once, better ones later)", default: "3" },
  cropResend: { flag: "--crop-resend-ms <ms>", env: "ROLLCALL_AGENT_CROP_RESEND_MS", description: "wait at least this long before sending a better crop of the same track", default: "1000" },
  cropImprovement: { flag: "--crop-improvement <fraction>", env: "ROLLCALL_AGENT_CROP_IMPROVEMENT", description: "a later crop is sent only if its quality beats the best sent by this fraction", default: "0.2" },
  cropMargin: { flag: "--crop-margin <fraction>", env: "ROLLCALL_AGENT_CROP_MARGIN", description: "context kept around the face box, as a fraction of its size", default: "0.4" },
  cropMaxSide: { flag: "--crop-max-side <px>", env: "ROLLCALL_AGENT_CROP_MAX_SIDE", description: "crops are scaled down to this longest side (64-512; vision accepts 512)", default: "320" },
  jpegQuality: { flag: "--jpeg-quality <n>", env: "ROLLCALL_AGENT_JPEG_QUALITY", description: "JPEG quality of crops and frames (30-100)", default: "90" },
  fullFrames: { flag: "--full-frames <bool>", env: "ROLLCALL_AGENT_FULL_FRAMES", description: "diagnosis: send whole frames (vision detects again) instead of crops", default: "false" },
  deviceId: { flag: "--device-id <uuid>", env: "ROLLCALL_DEVICE_ID", description: "this camera's device id (identity RegisterDevice)" },
  deviceSecret: { flag: "--device-secret <secret>", env: "ROLLCALL_DEVICE_SECRET", description: "the device secret (prefer the environment variable: flags show in ps)" },
  gatewayUrl: { flag: "--gateway-url <url>", env: "ROLLCALL_AGENT_GATEWAY_URL", description: "the Rollcall gateway's base URL (http:// or https://, e.g. https://rollcall.example.com or http://gateway.rollcall.svc:8080): device tokens are exchanged there (DeviceService/IssueDeviceToken over Connect). The way in a cluster, where identity accepts mesh callers only; a private CA: NODE_EXTRA_CA_CERTS=<ca.crt>. Set, it wins over --identity" },
  identity: { flag: "--identity <host:port>", env: "ROLLCALL_IDENTITY_ADDR", description: "identity's gRPC address (plaintext), for device tokens when --gateway-url is unset: development and the all-in-one mesh", default: "127.0.0.1:50051" },
  organization: { flag: "--organization <uuid>", env: "ROLLCALL_ORGANIZATION_ID", description: "the device's organisation; optional (identity names it with the token), needed only to spool before identity was ever reached" },
  transport: { flag: "--transport <kind>", env: "ROLLCALL_AGENT_TRANSPORT", description: "how crops reach vision: nats (publish to the FRAMES stream on --nats; vision consumes it) or grpc (VisionService.StreamFrames to --vision-addr, each frame answered by vision; needs no NATS, so it also works with the all-in-one mesh's in-process bus). Heartbeats go over NATS only: with grpc none are sent", default: "nats" },
  nats: { flag: "--nats <url>", env: "NATS_URL", description: "NATS with JetStream that vision consumes frames from (--transport nats)", default: "nats://127.0.0.1:4222" },
  visionAddr: { flag: "--vision-addr <host:port>", env: "ROLLCALL_VISION_ADDR", description: "vision's gRPC address; required with --transport grpc (the all-in-one mesh serves every service on its one gRPC address)" },
  namespace: { flag: "--namespace <name>", env: "ROLLCALL_BUS_NAMESPACE", description: "prefix of NATS subjects and streams (as the mesh's)", default: "rollcall" },
  publishTimeout: { flag: "--publish-timeout-ms <ms>", env: "ROLLCALL_AGENT_PUBLISH_TIMEOUT_MS", description: "a publish not acknowledged this fast (with grpc: not answered by vision, which recognises the frame first) counts as offline; its message is spooled", default: "3000" },
  memoryQueue: { flag: "--memory-queue <n>", env: "ROLLCALL_AGENT_MEMORY_QUEUE", description: "messages held in memory while publishing; beyond it they go to the spool", default: "64" },
  retry: { flag: "--retry-ms <ms>", env: "ROLLCALL_AGENT_RETRY_MS", description: "how often an offline agent tries to reach NATS (or vision) or identity again", default: "1000" },
  spoolDir: { flag: "--spool-dir <dir>", env: "ROLLCALL_AGENT_SPOOL_DIR", description: "where messages wait while offline (resumed after a restart)", default: "data/agent-spool" },
  spoolMax: { flag: "--spool-max-bytes <n>", env: "ROLLCALL_AGENT_SPOOL_MAX_BYTES", description: "spool size cap; the oldest messages are dropped (and counted) beyond it", default: String(256 * 1024 * 1024) },
  host: { flag: "--host <ip>", env: "ROLLCALL_AGENT_HOST", description: "interface /metrics, /healthz and /readyz listen on", default: "127.0.0.1" },
  metricsPort: { flag: "--metrics-port <port>", env: "ROLLCALL_AGENT_METRICS_PORT", description: "port of /metrics, /healthz, /readyz (0 = any free port)", default: "9465" },
  heartbeat: { flag: "--heartbeat-ms <ms>", env: "ROLLCALL_AGENT_HEARTBEAT_MS", description: "heartbeat interval on rollcall.health.device:<id> for audit (NATS only: with --transport grpc heartbeats are skipped, as they have no gRPC path)", default: "10000" },
  grace: { flag: "--shutdown-grace-ms <ms>", env: "ROLLCALL_SHUTDOWN_GRACE_MS", description: "on SIGTERM, how long in-flight messages may take to publish before they are spooled", default: "5000" },
  logLevel: { flag: "--log-level <level>", env: "LOG_LEVEL", description: "pino level (silent … trace)", default: "info" },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
export type RawOptions = Partial<Record<OptionName, string | undefined>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOST_PORT = /^(dns:\/\/\/)?[^\s:/]+:\d{1,5}$/;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Flags (already parsed) over environment over defaults; every bad value is reported at once. */
export function loadAgentConfig(flags: RawOptions, env: Record<string, string | undefined> = process.env): AgentConfig {
  const problems: string[] = [];
  const raw = (name: OptionName): string | undefined => {
    const spec: OptionSpec = OPTIONS[name];
    const value = flags[name] ?? env[spec.env] ?? spec.default;
    return value?.trim() === "" ? undefined : value?.trim();
  };
  const label = (name: OptionName) => `${OPTIONS[name].flag.split(" ")[0]} (${OPTIONS[name].env})`;
  const required = (name: OptionName): string => {
    const value = raw(name);
    if (value === undefined) problems.push(`${label(name)} is required`);
    return value ?? "";
  };
  const number = (name: OptionName, min: number, max: number, integer: boolean): number => {
    const text = raw(name) ?? "";
    const value = Number(text);
    if (text === "" || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      problems.push(`${label(name)}=${JSON.stringify(text)} must be a ${integer ? "whole number" : "number"} from ${min} to ${max}`);
      return min;
    }
    return value;
  };
  const int = (name: OptionName, min: number, max: number) => number(name, min, max, true);
  const real = (name: OptionName, min: number, max: number) => number(name, min, max, false);
  const bool = (name: OptionName): boolean => {
    const text = (raw(name) ?? "").toLowerCase();
    if (["true", "1", "yes", "on"].includes(text)) return true;
    if (["false", "0", "no", "off"].includes(text)) return false;
    problems.push(`${label(name)}=${JSON.stringify(text)} must be true or false`);
    return false;
  };
  const uuid = (name: OptionName, value: string | undefined): string | undefined => {
    if (value && !UUID.test(value)) problems.push(`${label(name)}=${JSON.stringify(value)} must be a UUID`);
    return value?.toLowerCase();
  };
  const oneOf = <T extends string>(name: OptionName, allowed: readonly T[]): T => {
    const value = raw(name) as T;
    if (!allowed.includes(value)) problems.push(`${label(name)}=${JSON.stringify(value)} must be one of ${allowed.join(", ")}`);
    return value;
  };

  const source = parseSource(required("source"));
  if (source.problem) problems.push(`${label("source")}: ${source.problem}`);
  const transport = oneOf("transport", ["nats", "grpc"] as const);
  const natsUrl = raw("nats") ?? "";
  if (transport === "nats" && !/^(nats|tls):\/\/[^\s]+$/.test(natsUrl)) problems.push(`${label("nats")}=${JSON.stringify(natsUrl)} must be a nats:// or tls:// URL`);
  const visionAddress = transport === "grpc" ? required("visionAddr") : undefined;
  if (visionAddress && !HOST_PORT.test(visionAddress)) problems.push(`${label("visionAddr")}=${JSON.stringify(visionAddress)} must be host:port`);
  const namespace = raw("namespace") ?? "";
  if (!/^[A-Za-z0-9_-]+$/.test(namespace)) problems.push(`${label("namespace")}=${JSON.stringify(namespace)} must be letters, digits, "-" or "_"`);
  const tokens = tokenSource(raw("gatewayUrl"), raw("identity") ?? "", problems, label);
  const deviceSecret = required("deviceSecret");
  if (deviceSecret.length > 256) problems.push(`${label("deviceSecret")} must be at most 256 characters`);

  const config: AgentConfig = {
    source: { kind: source.kind, location: source.location, cameraIndex: source.cameraIndex },
    fps: real("fps", 0.1, 120),
    realtime: bool("realtime"),
    loop: bool("loop"),
    sourceTimeoutMs: int("sourceTimeout", 500, 120_000),
    maxWidth: int("maxWidth", 160, 3840),
    motion: {
      enabled: bool("motion"),
      width: int("motionWidth", 32, 640),
      pixelThreshold: int("motionThreshold", 1, 255),
      minAreaFraction: real("motionArea", 0, 1),
      keyframeMs: int("keyframe", 0, 3_600_000),
    },
    detector: {
      backend: oneOf("backend", ["dnn", "onnxruntime"] as const),
      modelsDir: path.resolve(raw("modelsDir") ?? "models"),
      minScore: real("minScore", 0.05, 1),
      threads: int("threads", 1, 64),
    },
    tracker: {
      minIou: real("trackIou", 0.01, 1),
      maxMissedFrames: int("trackMissed", 0, 1000),
      maxIdleMs: int("trackIdle", 100, 600_000),
      minHits: int("trackMinHits", 1, 100),
    },
    crops: {
      perTrack: int("cropsPerTrack", 1, 16),
      resendAfterMs: int("cropResend", 0, 600_000),
      minImprovement: real("cropImprovement", 0, 10),
      margin: real("cropMargin", 0, 2),
      maxSide: int("cropMaxSide", 64, 512),
      jpegQuality: int("jpegQuality", 30, 100),
      fullFrames: bool("fullFrames"),
    },
    device: {
      id: uuid("deviceId", required("deviceId")) ?? "",
      secret: deviceSecret,
      tokens,
      organizationId: uuid("organization", raw("organization")),
    },
    transport: {
      kind: transport,
      natsUrl,
      visionAddress,
      namespace,
      publishTimeoutMs: int("publishTimeout", 100, 120_000),
      memoryQueue: int("memoryQueue", 1, 100_000),
      retryMs: int("retry", 50, 600_000),
    },
    spool: { dir: path.resolve(raw("spoolDir") ?? "data/agent-spool"), maxBytes: int("spoolMax", 64 * 1024, Number.MAX_SAFE_INTEGER) },
    health: { host: raw("host") ?? "127.0.0.1", metricsPort: int("metricsPort", 0, 65_535), heartbeatMs: int("heartbeat", 1000, 3_600_000) },
    shutdownGraceMs: int("grace", 0, 600_000),
    logLevel: oneOf("logLevel", LOG_LEVELS),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The gateway when its URL is given (identity's address is then unused), else identity. */
function tokenSource(gatewayUrl: string | undefined, identity: string, problems: string[], label: (name: OptionName) => string): TokenSource {
  if (gatewayUrl === undefined) {
    if (!HOST_PORT.test(identity)) problems.push(`${label("identity")}=${JSON.stringify(identity)} must be host:port`);
    return { via: "identity", address: identity };
  }
  let url: URL | undefined;
  try {
    url = new URL(gatewayUrl);
  } catch {
    url = undefined;
  }
  if (!url || !["http:", "https:"].includes(url.protocol) || url.search || url.hash || url.username || url.password) {
    problems.push(`${label("gatewayUrl")}=${JSON.stringify(gatewayUrl)} must be an http:// or https:// base URL without query, fragment or credentials`);
    return { via: "gateway", url: gatewayUrl };
  }
  return { via: "gateway", url: url.href.replace(/\/+$/, "") };
}

function parseSource(value: string): { kind: SourceKind; location: string; cameraIndex?: number; problem?: string } {
  if (value === "") return { kind: "file", location: "" };
  if (/^\d+$/.test(value)) return { kind: "camera", location: value, cameraIndex: Number(value) };
  const device = /^\/dev\/video(\d+)$/.exec(value);
  if (device) return { kind: "camera", location: value, cameraIndex: Number(device[1]) };
  if (/^(rtsp|rtsps|http|https):\/\//i.test(value)) {
    try {
      new URL(value);
      return { kind: "url", location: value };
    } catch {
      return { kind: "url", location: value, problem: `${JSON.stringify(value)} is not a valid URL` };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return { kind: "url", location: value, problem: "stream URLs must be rtsp://, http:// or https://" };
  const location = path.resolve(value);
  try {
    return { kind: statSync(location).isDirectory() ? "dir" : "file", location };
  } catch {
    return { kind: "file", location, problem: `${location} does not exist (give a video file, an image directory, a stream URL or a camera)` };
  }
}
