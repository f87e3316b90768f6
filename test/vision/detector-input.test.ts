import assert from "node:assert/strict";
import sharp from "sharp";
import { ort, createSession } from "../../services/vision/domain/pipeline/onnx.js";
import { loadVerifiedModels } from "../../services/vision/domain/pipeline/models.js";
import { PIXELS_INPUT, withPixelsInput } from "../../services/vision/domain/pipeline/pixels-input.js";
import { padPixels } from "../../services/vision/domain/pipeline/detector.js";
import { MODELS_DIR, photo } from "./support.js";

describe("detector input", function () {
  this.timeout(30_000);

  it("gives the rewritten YuNet the decoded RGB bytes and gets the outputs of the published model on float BGR planes", async () => {
    const published = (await loadVerifiedModels(MODELS_DIR)).detector.bytes;
    const [original, rewritten] = await Promise.all([createSession(published, 1), createSession(withPixelsInput(published), 1)]);
    assert.deepEqual(rewritten.inputNames, [PIXELS_INPUT]);
    for (const [width, height] of [[640, 480], [416, 640]] as const) {
      const rgb = await sharp(await photo("group/couple.jpg")).resize(width, height, { fit: "cover" }).raw().toBuffer();
      const plane = width * height;
      const bgr = new Float32Array(3 * plane);
      for (let i = 0; i < plane; i++) [bgr[2 * plane + i], bgr[plane + i], bgr[i]] = [rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!];
      const want = await original.run({ input: new ort.Tensor("float32", bgr, [1, 3, height, width]) });
      const got = await rewritten.run({ [PIXELS_INPUT]: new ort.Tensor("uint8", rgb, [1, height, width, 3]) });
      assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
      for (const name of Object.keys(want)) assert.deepEqual(got[name]!.data, want[name]!.data, `${name} at ${width}x${height}`);
    }
  });

  it("refuses a model without a graph or without the input it rewrites", () => {
    assert.throws(() => withPixelsInput(new Uint8Array([0x08, 0x06])), /detector model has no graph/);
    // ModelProto { ir_version: 6, graph: GraphProto { name: "g" } }
    assert.throws(() => withPixelsInput(new Uint8Array([0x08, 0x06, 0x3a, 0x03, 0x12, 0x01, 0x67])), /detector model has no input named input/);
  });

  it("pads pixels right and bottom with zeros, over whatever the buffer held", () => {
    for (const [width, height] of [[3, 2], [32, 5], [33, 33]] as const) {
      const data = new Uint8Array(width * height * 3).map((_, i) => 1 + (i % 250));
      const [w, h] = [Math.ceil(width / 32) * 32, Math.ceil(height / 32) * 32];
      const out = padPixels({ width, height, data }, w, h, new Uint8Array(w * h * 3).fill(255));
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w * 3; x++) {
          const want = y < height && x < width * 3 ? data[y * width * 3 + x] : 0;
          assert.equal(out[y * w * 3 + x], want, `${width}x${height} at byte ${x} of row ${y}`);
        }
      }
    }
  });
});
