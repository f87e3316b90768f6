import type { Detection } from "../../../services/vision/domain/pipeline/detector.js";

export type Box = Detection["box"];

export interface Track {
  id: number;
  box: Box;
  /** Frames the face was detected in. */
  hits: number;
  /** Processed frames since it was last detected. */
  missed: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

export interface TrackerOptions {
  /** Least overlap for a detection to continue a track. */
  minIou: number;
  /** Processed frames a track may go without a detection before it ends. */
  maxMissedFrames: number;
  /** A track not detected for this long ends, however few frames were processed meanwhile. */
  maxIdleMs: number;
}

export interface TrackUpdate {
  /** One per detection, in the detections' order: the track it belongs to. */
  assigned: Track[];
  ended: Track[];
}

/**
 * IoU tracker: each frame's detections are matched greedily, best overlap first, to the live
 * tracks' last boxes; the rest start new tracks. Cheap, and enough at a door where faces move
 * little between frames at 10+ fps.
 */
export class IouTracker {
  private readonly live = new Map<number, Track>();
  private nextId = 1;

  constructor(private readonly options: TrackerOptions) {}

  get tracks(): readonly Track[] {
    return [...this.live.values()];
  }

  update(detections: readonly Pick<Detection, "box">[], nowMs: number): TrackUpdate {
    const tracks = [...this.live.values()];
    const pairs: { t: number; d: number; iou: number }[] = [];
    tracks.forEach((track, t) =>
      detections.forEach((det, d) => {
        const overlap = iou(track.box, det.box);
        if (overlap >= this.options.minIou) pairs.push({ t, d, iou: overlap });
      }),
    );
    pairs.sort((a, b) => b.iou - a.iou);
    const assigned: (Track | undefined)[] = new Array(detections.length);
    const usedTracks = new Set<number>();
    for (const { t, d } of pairs) {
      if (usedTracks.has(t) || assigned[d]) continue;
      const track = tracks[t]!;
      usedTracks.add(t);
      Object.assign(track, { box: detections[d]!.box, hits: track.hits + 1, missed: 0, lastSeenMs: nowMs });
      assigned[d] = track;
    }
    detections.forEach((det, d) => {
      if (assigned[d]) return;
      const track: Track = { id: this.nextId++, box: det.box, hits: 1, missed: 0, firstSeenMs: nowMs, lastSeenMs: nowMs };
      this.live.set(track.id, track);
      assigned[d] = track;
    });
    const ended: Track[] = [];
    tracks.forEach((track, t) => {
      if (usedTracks.has(t)) return;
      track.missed++;
      if (track.missed > this.options.maxMissedFrames || nowMs - track.lastSeenMs > this.options.maxIdleMs) {
        this.live.delete(track.id);
        ended.push(track);
      }
    });
    return { assigned: assigned as Track[], ended };
  }

  /** Ends tracks idle too long when no frame is processed (motion-skipped frames). */
  expire(nowMs: number): Track[] {
    const ended: Track[] = [];
    for (const track of this.live.values()) {
      if (nowMs - track.lastSeenMs > this.options.maxIdleMs) {
        this.live.delete(track.id);
        ended.push(track);
      }
    }
    return ended;
  }

  /** Ends every track (shutdown). */
  endAll(): Track[] {
    const ended = [...this.live.values()];
    this.live.clear();
    return ended;
  }
}

export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}
