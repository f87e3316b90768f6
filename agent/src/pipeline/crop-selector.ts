import { headPose } from "../../../services/vision/domain/pipeline/quality.js";
import type { Point } from "../../../services/vision/domain/pipeline/detector.js";

export interface CropPolicy {
  /** Most crops sent per track. */
  perTrack: number;
  /** Detections a track needs before its first crop goes out. */
  minHits: number;
  /** Least time between two crops of one track. */
  resendAfterMs: number;
  /** A later crop must beat the best sent one by this fraction. */
  minImprovement: number;
}

/** How useful a face crop is to recognition, 0..1: frontal, sharp, large enough, confidently a face. */
export function cropQuality(input: { landmarks: readonly Point[]; sharpness: number; faceSide: number; score: number }): number {
  const { yaw, pitch } = headPose(input.landmarks);
  const frontal = Math.max(0, Math.cos((yaw * Math.PI) / 180)) * Math.max(0, Math.cos((pitch * Math.PI) / 180));
  // Variance of the Laplacian saturates: past ~100 on a face-sized crop more is not sharper to the embedder.
  const sharp = input.sharpness / (input.sharpness + 100);
  const size = Math.min(1, input.faceSide / 80);
  return frontal * frontal * sharp * size * input.score;
}

interface TrackState<T> {
  best?: { quality: number; crop: T };
  sent: number;
  bestSentQuality: number;
  lastSentMs: number;
}

/**
 * Keeps the best crop seen of each track and decides when to send: the first as soon as the
 * track is confirmed (recognition should not wait for the person to leave), then a better one
 * at most every `resendAfterMs`, and a last better one when the track ends; never more than
 * `perTrack` in all.
 */
export class CropSelector<T> {
  private readonly tracks = new Map<number, TrackState<T>>();

  constructor(
    private readonly policy: CropPolicy,
    /** Told of every crop that will never be sent (superseded, or its track ended), to free it. */
    private readonly discard: (crop: T) => void = () => {},
  ) {}

  offer(trackId: number, quality: number, crop: () => T): void {
    let state = this.tracks.get(trackId);
    if (!state) {
      state = { sent: 0, bestSentQuality: 0, lastSentMs: 0 };
      this.tracks.set(trackId, state);
    }
    if (state.sent >= this.policy.perTrack) return;
    if (state.best && quality <= state.best.quality) return;
    if (state.best) this.discard(state.best.crop);
    state.best = { quality, crop: crop() };
  }

  /** Whether a crop of this (live) track is worth wanting at all: lets the caller skip cutting one. */
  wants(trackId: number): boolean {
    const state = this.tracks.get(trackId);
    return !state || state.sent < this.policy.perTrack;
  }

  /** The crop to send now for a live track with `hits` detections, if any. */
  take(trackId: number, hits: number, nowMs: number): { quality: number; crop: T } | undefined {
    const state = this.tracks.get(trackId);
    if (!state?.best || state.sent >= this.policy.perTrack || hits < this.policy.minHits) return undefined;
    if (state.sent > 0 && (nowMs - state.lastSentMs < this.policy.resendAfterMs || !this.improves(state))) return undefined;
    return this.send(state, nowMs);
  }

  /** The track ended: a last crop if it is better than what was sent, then its state is forgotten. */
  finish(trackId: number, hits: number, nowMs: number): { quality: number; crop: T } | undefined {
    const state = this.tracks.get(trackId);
    this.tracks.delete(trackId);
    if (!state?.best) return undefined;
    if (state.sent >= this.policy.perTrack || hits < this.policy.minHits || (state.sent > 0 && !this.improves(state))) {
      this.discard(state.best.crop);
      return undefined;
    }
    return this.send(state, nowMs);
  }

  get trackCount(): number {
    return this.tracks.size;
  }

  private improves(state: TrackState<T>): boolean {
    return state.best !== undefined && state.best.quality > state.bestSentQuality * (1 + this.policy.minImprovement);
  }

  private send(state: TrackState<T>, nowMs: number): { quality: number; crop: T } {
    const chosen = state.best!;
    state.best = undefined;
    state.sent++;
    state.bestSentQuality = Math.max(state.bestSentQuality, chosen.quality);
    state.lastSentMs = nowMs;
    return chosen;
  }
}
