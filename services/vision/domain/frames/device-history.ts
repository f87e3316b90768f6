/** What one device has sent lately: enough to drop repeated and out-of-date frames. */
interface DeviceState {
  lastSequence: bigint;
  lastCapture: number;
  recentFrameIds: Set<string>;
}

const RECENT_FRAME_IDS = 256;
const MAX_DEVICES = 10_000;

export type HistoryVerdict = { ok: true } | { ok: false; reason: "DUPLICATE" | "STALE"; detail: string };

/**
 * Per-device memory of processed frames. A sequence at or below the last one is stale, unless
 * its capture time is newer: the agent restarted and counts from 1 again.
 */
export class DeviceHistory {
  private readonly devices = new Map<string, DeviceState>();

  /**
   * `redelivered`: the queue hands this frame out again (its first consumer died before acking),
   * after later frames may already have been processed; it is late, not stale.
   */
  check(deviceId: string, frameId: string, sequence: bigint, captureMs: number, redelivered = false): HistoryVerdict {
    const state = this.devices.get(deviceId);
    if (!state) return { ok: true };
    if (state.recentFrameIds.has(frameId)) return { ok: false, reason: "DUPLICATE", detail: `frame ${frameId} was already processed` };
    if (!redelivered && sequence <= state.lastSequence && captureMs <= state.lastCapture) {
      return { ok: false, reason: "STALE", detail: `sequence ${sequence} is not after ${state.lastSequence}, already processed` };
    }
    return { ok: true };
  }

  record(deviceId: string, frameId: string, sequence: bigint, captureMs: number): void {
    let state = this.devices.get(deviceId);
    if (!state) {
      if (this.devices.size >= MAX_DEVICES) this.devices.delete(this.devices.keys().next().value!);
      state = { lastSequence: 0n, lastCapture: 0, recentFrameIds: new Set() };
      this.devices.set(deviceId, state);
    }
    if (sequence > state.lastSequence || captureMs > state.lastCapture) state.lastSequence = sequence;
    state.lastCapture = Math.max(state.lastCapture, captureMs);
    state.recentFrameIds.add(frameId);
    if (state.recentFrameIds.size > RECENT_FRAME_IDS) state.recentFrameIds.delete(state.recentFrameIds.values().next().value!);
  }
}
