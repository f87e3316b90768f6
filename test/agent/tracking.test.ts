import assert from "node:assert/strict";
import { IouTracker } from "../../agent/src/pipeline/tracker.js";
import { CropSelector, cropQuality } from "../../agent/src/pipeline/crop-selector.js";

const box = (x: number, y: number, size = 100) => ({ box: { x, y, width: size, height: size } });
/** Landmarks of a level, frontal face in a 100 px box at (x, y); `turn` shifts the nose sideways. */
const face = (x: number, y: number, turn = 0) => [
  { x: x + 30, y: y + 40 }, { x: x + 70, y: y + 40 }, { x: x + 50 + turn, y: y + 63 }, { x: x + 35, y: y + 80 }, { x: x + 65, y: y + 80 },
];

describe("agent tracker and crop selection", () => {
  it("keeps a moving face on one track, starts a new one for a new face, ends tracks that go unseen", () => {
    const tracker = new IouTracker({ minIou: 0.3, maxMissedFrames: 2, maxIdleMs: 10_000 });
    const a1 = tracker.update([box(100, 100)], 0).assigned[0]!;
    const step = tracker.update([box(110, 105), box(400, 100)], 100);
    assert.equal(step.assigned[0]!.id, a1.id, "the face that moved 10 px is the same track");
    assert.notEqual(step.assigned[1]!.id, a1.id, "a face elsewhere is a new track");
    assert.equal(step.assigned[0]!.hits, 2);
    const b = step.assigned[1]!;
    assert.deepEqual(tracker.update([box(120, 110)], 200).ended, []);
    assert.deepEqual(tracker.update([box(130, 115)], 300).ended, []);
    const ended = tracker.update([box(140, 120)], 400).ended;
    assert.deepEqual(ended.map((t) => t.id), [b.id], "b went unseen for more than 2 processed frames");
    assert.equal(tracker.tracks.length, 1);
  });

  it("matches the best overlaps first when faces are close, and ends idle tracks by time", () => {
    const tracker = new IouTracker({ minIou: 0.1, maxMissedFrames: 100, maxIdleMs: 1_000 });
    const first = tracker.update([box(0, 0), box(60, 0)], 0).assigned;
    const second = tracker.update([box(62, 0), box(2, 0)], 100).assigned;
    assert.deepEqual(second.map((t) => t.id), [first[1]!.id, first[0]!.id]);
    assert.deepEqual(tracker.expire(500), []);
    assert.equal(tracker.expire(1_200).length, 2);
  });

  it("scores frontal, sharp, large faces higher", () => {
    const base = { landmarks: face(0, 0), sharpness: 300, faceSide: 120, score: 0.9 };
    const q = cropQuality(base);
    assert.ok(q > cropQuality({ ...base, landmarks: face(0, 0, 15) }), "turned away");
    assert.ok(q > cropQuality({ ...base, sharpness: 20 }), "blurred");
    assert.ok(q > cropQuality({ ...base, faceSide: 30 }), "small");
  });

  it("sends the first crop at once, a clearly better one later, at most perTrack, and a last better one when the track ends", () => {
    const selector = new CropSelector<string>({ perTrack: 3, minHits: 2, resendAfterMs: 1_000, minImprovement: 0.2 });
    selector.offer(1, 0.5, () => "f1");
    assert.equal(selector.take(1, 1, 0), undefined, "not before minHits");
    selector.offer(1, 0.4, () => "f2");
    assert.equal(selector.take(1, 2, 100)?.crop, "f1", "the best so far, once confirmed");
    selector.offer(1, 0.9, () => "f3");
    assert.equal(selector.take(1, 3, 500), undefined, "too soon after the last");
    assert.equal(selector.take(1, 4, 1_200)?.crop, "f3", "much better, after resendAfterMs");
    selector.offer(1, 0.95, () => "f4");
    assert.equal(selector.take(1, 5, 3_000), undefined, "not better by 20%");
    selector.offer(1, 0.3, () => "never cut");
    assert.equal(selector.finish(1, 6, 3_100), undefined, "nothing better to send at the end");
    assert.equal(selector.trackCount, 0);

    const capped = new CropSelector<string>({ perTrack: 1, minHits: 1, resendAfterMs: 0, minImprovement: 0 });
    capped.offer(7, 0.1, () => "a");
    assert.equal(capped.take(7, 1, 0)?.crop, "a");
    assert.equal(capped.wants(7), false);
    let cut = false;
    capped.offer(7, 0.9, () => ((cut = true), "b"));
    assert.equal(cut, false, "no crop is cut once a track has sent all it may");

    const short = new CropSelector<string>({ perTrack: 3, minHits: 1, resendAfterMs: 10_000, minImprovement: 0.2 });
    short.offer(9, 0.2, () => "s1");
    short.take(9, 1, 0);
    short.offer(9, 0.8, () => "s2");
    assert.equal(short.finish(9, 2, 100)?.crop, "s2", "a better crop still goes out when the track ends early");
  });
});
