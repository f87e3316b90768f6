import { cv, release, type Mat } from "../cv.js";

export interface MotionOptions {
  /** Width of the grey copy compared (height keeps the aspect ratio). */
  width: number;
  /** Grey-level change for a pixel to count as moved (1..255). */
  pixelThreshold: number;
  /** Fraction of moved pixels that makes a frame worth processing. */
  minAreaFraction: number;
  /** Process at least this often without motion (0 = never). */
  keyframeMs: number;
}

/**
 * Frame differencing on a small blurred grey copy against the last frame that was let through,
 * so slow changes add up until they count, and a still scene costs one resize per frame.
 */
export class MotionGate {
  private reference: Mat | undefined;
  private lastPassMs = -Infinity;
  /** Moved fraction of the last frame looked at (for diagnosis and tests). */
  lastFraction = 0;

  constructor(private readonly options: MotionOptions) {}

  /** True when the frame should be processed. */
  check(frame: Mat, nowMs: number): boolean {
    const small = this.shrink(frame);
    if (!this.reference || this.reference.rows !== small.rows || this.reference.cols !== small.cols) {
      return this.pass(small, nowMs, 1);
    }
    const diff = small.absdiff(this.reference);
    const moved = diff.threshold(this.options.pixelThreshold, 255, cv.THRESH_BINARY);
    const fraction = moved.countNonZero() / (small.rows * small.cols);
    release(diff, moved);
    if (fraction >= this.options.minAreaFraction && fraction > 0) return this.pass(small, nowMs, fraction);
    this.lastFraction = fraction;
    if (this.options.keyframeMs > 0 && nowMs - this.lastPassMs >= this.options.keyframeMs) return this.pass(small, nowMs, fraction);
    release(small);
    return false;
  }

  private pass(small: Mat, nowMs: number, fraction: number): true {
    release(this.reference);
    this.reference = small;
    this.lastPassMs = nowMs;
    this.lastFraction = fraction;
    return true;
  }

  private shrink(frame: Mat): Mat {
    const width = Math.min(this.options.width, frame.cols);
    const height = Math.max(1, Math.round((frame.rows * width) / frame.cols));
    const grey = frame.channels === 1 ? frame : frame.cvtColor(cv.COLOR_BGR2GRAY);
    const resized = grey.resize(height, width, 0, 0, cv.INTER_AREA);
    const blurred = resized.gaussianBlur(new cv.Size(5, 5), 0);
    release(resized, grey === frame ? undefined : grey);
    return blurred;
  }
}
