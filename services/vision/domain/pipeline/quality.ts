import { ALIGNED_SIZE } from "./align.js";
import type { Detection, Point } from "./detector.js";

/** Measures the enrolment gates use and face_images.quality stores. */
export interface FaceQuality {
  score: number;
  /** Shorter side of the face box, in pixels of the original image. */
  facePx: number;
  /** Variance of the Laplacian of the aligned crop: low = blurry. */
  blur: number;
  /** Rough head turn left/right and up/down in degrees, from the landmarks (0 = frontal). */
  yaw: number;
  pitch: number;
}

/**
 * Where YuNet puts the nose between eyes and mouth on a level head: 0.58 of the way (the mean
 * over ../shared/faces/identities; the ArcFace template's 0.49 is for its own landmark scheme).
 */
const FRONTAL_PITCH_RATIO = 0.58;

export function measureQuality(detection: Detection, aligned: Uint8Array): FaceQuality {
  const { yaw, pitch } = headPose(detection.landmarks);
  return {
    score: round(detection.score, 3),
    facePx: Math.round(Math.min(detection.box.width, detection.box.height)),
    blur: round(laplacianVariance(aligned), 1),
    yaw: round(yaw, 1),
    pitch: round(pitch, 1),
  };
}

/**
 * Pose from 5 points, in the face's own frame (roll removed): the nose moves sideways from the
 * eyes' midpoint as the head turns (yaw), and up or down between eyes and mouth as it nods
 * (pitch).
 */
export function headPose(landmarks: readonly Point[]): { yaw: number; pitch: number } {
  const [le, re, nose, lm, rm] = landmarks as [Point, Point, Point, Point, Point];
  const roll = Math.atan2(re.y - le.y, re.x - le.x);
  const cos = Math.cos(-roll);
  const sin = Math.sin(-roll);
  const rot = (p: Point): Point => ({ x: p.x * cos - p.y * sin, y: p.x * sin + p.y * cos });
  const [l, r, n, ml, mr] = [rot(le), rot(re), rot(nose), rot(lm), rot(rm)];
  const eyes = { x: (l.x + r.x) / 2, y: (l.y + r.y) / 2 };
  const mouthY = (ml.y + mr.y) / 2;
  const halfEyes = Math.max(1e-6, (r.x - l.x) / 2);
  const yawRatio = (n.x - eyes.x) / halfEyes;
  const pitchRatio = (n.y - eyes.y) / Math.max(1e-6, mouthY - eyes.y);
  return { yaw: degAsin(yawRatio), pitch: degAsin((pitchRatio - FRONTAL_PITCH_RATIO) / 0.5) };
}

function laplacianVariance(rgb: Uint8Array): number {
  const size = ALIGNED_SIZE;
  const gray = new Float32Array(size * size);
  for (let i = 0; i < gray.length; i++) gray[i] = 0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  // The central region only: the crop's corners hold background and black borders.
  for (let y = 16; y < size - 16; y++) {
    for (let x = 16; x < size - 16; x++) {
      const i = y * size + x;
      const lap = gray[i - 1]! + gray[i + 1]! + gray[i - size]! + gray[i + size]! - 4 * gray[i]!;
      sum += lap;
      sumSq += lap * lap;
      n++;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

function degAsin(v: number): number {
  return (Math.asin(Math.max(-1, Math.min(1, v))) * 180) / Math.PI;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
