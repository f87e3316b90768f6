import type { AgentConfig } from "../config.js";
import { cv, release, type Mat } from "../cv.js";
import type { AgentMetrics } from "../health/metrics.js";
import type { CropsInit } from "../transport/frame-messages.js";
import { CropSelector, cropQuality } from "./crop-selector.js";
import type { Detection, FaceDetector } from "./detector.js";
import { MotionGate } from "./motion.js";
import { IouTracker, type Track } from "./tracker.js";

/** A face cut out of a frame, ready to send: landmarks in crop pixels, box in frame pixels. */
export interface FaceCrop {
  image: Mat;
  landmarks: { x: number; y: number }[];
  box: Detection["box"];
  score: number;
  captureTime: Date;
  frameWidth: number;
  frameHeight: number;
  /** The whole frame, kept only with --full-frames. */
  frame?: Mat;
}

/** What the pipeline hands on: crops of one capture instant, or a whole frame (diagnosis). */
export type Emitted = { kind: "crops"; captureTime: Date; crops: CropsInit } | { kind: "image"; captureTime: Date; jpeg: Uint8Array };

export type PipelineOptions = Pick<AgentConfig, "maxWidth" | "motion" | "detector" | "tracker" | "crops">;

/**
 * One frame at a time: scale down, skip if nothing moved, detect, track, keep the best crop of
 * each track and emit the crops worth sending (a few per track, not one per frame).
 */
export class FramePipeline {
  private readonly motion: MotionGate | undefined;
  private readonly tracker: IouTracker;
  private readonly selector: CropSelector<FaceCrop>;

  constructor(
    private readonly detector: FaceDetector,
    private readonly options: PipelineOptions,
    private readonly metrics: AgentMetrics,
    private readonly emit: (item: Emitted) => void,
  ) {
    this.motion = options.motion.enabled ? new MotionGate(options.motion) : undefined;
    this.tracker = new IouTracker(options.tracker);
    this.selector = new CropSelector({ ...options.crops, minHits: options.tracker.minHits }, (crop) => release(crop.image, crop.frame));
  }

  async process(input: Mat, captureTime: Date): Promise<void> {
    const frame = input.cols > this.options.maxWidth ? input.resize(Math.round((input.rows * this.options.maxWidth) / input.cols), this.options.maxWidth, 0, 0, cv.INTER_AREA) : input;
    try {
      await this.detectAndTrack(frame, captureTime);
    } finally {
      if (frame !== input) release(frame);
    }
  }

  private async detectAndTrack(frame: Mat, captureTime: Date): Promise<void> {
    const now = captureTime.getTime();
    if (this.motion && !this.motion.check(frame, now)) {
      this.metrics.framesMotionSkipped.inc();
      this.finish(this.tracker.expire(now), now);
      return;
    }
    const stopTimer = this.metrics.detectionSeconds.startTimer({ backend: this.detector.backend });
    const detections = await this.detector.detect(frame, this.options.detector.minScore);
    stopTimer();
    this.metrics.framesProcessed.inc();
    this.metrics.faces.inc(detections.length);

    const { assigned, ended } = this.tracker.update(detections, now);
    let grey: Mat | undefined;
    const due: FaceCrop[] = [];
    detections.forEach((detection, i) => {
      const track = assigned[i]!;
      if (track.hits === 1) this.metrics.tracks.inc();
      if (!this.selector.wants(track.id)) return;
      grey ??= frame.cvtColor(cv.COLOR_BGR2GRAY);
      const quality = cropQuality({
        landmarks: detection.landmarks,
        sharpness: sharpness(grey, detection.box),
        faceSide: Math.min(detection.box.width, detection.box.height),
        score: detection.score,
      });
      this.selector.offer(track.id, quality, () => this.cut(frame, detection, captureTime));
      const chosen = this.selector.take(track.id, track.hits, now);
      if (chosen) due.push(chosen.crop);
    });
    release(grey);
    this.send(due);
    this.finish(ended, now);
  }

  /** Shutdown: every live track ends and its last worthwhile crop goes out. */
  flush(now = Date.now()): void {
    this.finish(this.tracker.endAll(), now);
  }

  private finish(ended: Track[], now: number): void {
    const due: FaceCrop[] = [];
    for (const track of ended) {
      const chosen = this.selector.finish(track.id, track.hits, now);
      if (chosen) due.push(chosen.crop);
    }
    this.send(due);
  }

  /** One message per capture instant: crops chosen now may come from earlier frames. */
  private send(crops: FaceCrop[]): void {
    const byTime = new Map<number, FaceCrop[]>();
    for (const crop of crops) byTime.set(crop.captureTime.getTime(), [...(byTime.get(crop.captureTime.getTime()) ?? []), crop]);
    for (const group of byTime.values()) {
      const { captureTime, frame, frameWidth, frameHeight } = group[0]!;
      this.metrics.cropsSent.inc(group.length);
      if (frame) {
        this.emit({ kind: "image", captureTime, jpeg: encodeJpeg(frame, this.options.crops.jpegQuality) });
      } else {
        this.emit({
          kind: "crops",
          captureTime,
          crops: {
            frameWidth,
            frameHeight,
            crops: group.map((c) => ({ image: encodeJpeg(c.image, this.options.crops.jpegQuality), landmarks: c.landmarks, box: c.box, score: c.score })),
          },
        });
      }
      for (const crop of group) release(crop.image, crop.frame);
    }
  }

  /** The face box widened by the margin, clamped to the frame, copied and scaled to at most maxSide. */
  private cut(frame: Mat, detection: Detection, captureTime: Date): FaceCrop {
    const { margin, maxSide, fullFrames } = this.options.crops;
    const { box } = detection;
    const x0 = Math.max(0, Math.floor(box.x - box.width * margin));
    const y0 = Math.max(0, Math.floor(box.y - box.height * margin));
    const x1 = Math.min(frame.cols, Math.ceil(box.x + box.width * (1 + margin)));
    const y1 = Math.min(frame.rows, Math.ceil(box.y + box.height * (1 + margin)));
    const width = Math.max(1, x1 - x0);
    const height = Math.max(1, y1 - y0);
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const region = frame.getRegion(new cv.Rect(x0, y0, width, height));
    let image = region.copy();
    release(region);
    if (scale < 1) {
      const full = image;
      image = full.resize(Math.max(1, Math.round(height * scale)), Math.max(1, Math.round(width * scale)), 0, 0, cv.INTER_AREA);
      release(full);
    }
    return {
      image,
      landmarks: detection.landmarks.map((p) => ({ x: (p.x - x0) * scale, y: (p.y - y0) * scale })),
      box: { ...box },
      score: detection.score,
      captureTime,
      frameWidth: frame.cols,
      frameHeight: frame.rows,
      frame: fullFrames ? frame.copy() : undefined,
    };
  }
}

/** Variance of the Laplacian over the face box: high = sharp. */
function sharpness(grey: Mat, box: Detection["box"]): number {
  const x = Math.max(0, Math.floor(box.x));
  const y = Math.max(0, Math.floor(box.y));
  const width = Math.min(grey.cols - x, Math.ceil(box.width));
  const height = Math.min(grey.rows - y, Math.ceil(box.height));
  if (width < 3 || height < 3) return 0;
  const region = grey.getRegion(new cv.Rect(x, y, width, height));
  const laplacian = region.laplacian(cv.CV_64F);
  const { mean, stddev } = laplacian.meanStdDev();
  const sd = stddev.at(0, 0);
  // A region shares its frame's pixels and keeps them alive until released too.
  release(region, laplacian, mean, stddev);
  return sd * sd;
}

function encodeJpeg(image: Mat, quality: number): Uint8Array {
  return new Uint8Array(cv.imencode(".jpg", image, [cv.IMWRITE_JPEG_QUALITY, quality]));
}
