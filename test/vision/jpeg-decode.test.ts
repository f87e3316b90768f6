import assert from "node:assert/strict";
import sharp, { type Sharp } from "sharp";
import { decodeImage, ImageError, type RgbImage } from "../../services/vision/domain/pipeline/decode.js";
import { cosine } from "../../services/vision/domain/pipeline/embedder.js";
import { readImageHeader } from "../../services/vision/domain/pipeline/image-header.js";
import { decodableByTurbo, decodeWithTurbo } from "../../services/vision/domain/pipeline/jpeg-turbo-decoder.js";
import { photo, testEngine } from "./support.js";

const LIMITS = { maxBytes: 8 * 1024 * 1024, maxMegapixels: 25 };
const DETECT_SIDE = 640;

/** What libvips gives for the image: the pipeline decode.ts runs when it does not use libjpeg-turbo. */
async function libvipsPixels(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, { failOn: "error" }).rotate().removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

function difference(a: RgbImage, b: RgbImage): { mean: number; max: number } {
  assert.deepEqual([a.width, a.height, a.data.length], [b.width, b.height, b.data.length]);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.data.length, max };
}

const sameImage = (a: RgbImage, b: RgbImage) => a.width === b.width && a.height === b.height && difference(a, b).max === 0;

/** A 640x480 camera frame with two faces, as `encode` writes it. */
async function frame(encode: (s: Sharp) => Sharp = (s) => s.jpeg({ quality: 85 })): Promise<Buffer> {
  return encode(sharp(await photo("group/couple.jpg")).resize(640, 480, { fit: "cover" })).toBuffer();
}

/** The JPEG with an Exif APP1 segment holding only the orientation (sharp's withMetadata would also add an ICC profile). */
function withOrientation(jpeg: Buffer, orientation: number): Buffer {
  const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 2 + 6 + tiff.length]), Buffer.from("Exif\0\0", "latin1"), tiff]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}

/** Decodes through decode.ts and says which decoder's pixels it returned (they differ: libjpeg-turbo's IDCT is the fast one). */
async function decodeAndTrace(bytes: Buffer) {
  const decoded = await decodeImage(bytes, LIMITS, DETECT_SIDE);
  const viaLibvips = await libvipsPixels(bytes);
  const viaTurbo = await decodeWithTurbo(bytes);
  if (viaTurbo) assert.ok(!sameImage(viaTurbo, viaLibvips), "the two decoders give the same pixels for this image: the path cannot be told");
  const path = viaTurbo && sameImage(decoded.reduced, viaTurbo) ? "turbo" : sameImage(decoded.reduced, viaLibvips) ? "libvips" : "neither";
  return { decoded, path, routed: decodableByTurbo(bytes, readImageHeader(bytes, "jpeg"), DETECT_SIDE), viaLibvips };
}

describe("JPEG decoding: libjpeg-turbo for plain frames, libvips for the rest", () => {
  it("decodes a baseline frame with libjpeg-turbo, to libvips' size and pixels within the fast IDCT's error", async () => {
    const { decoded, path, routed, viaLibvips } = await decodeAndTrace(await frame());
    assert.deepEqual([routed, path], [true, "turbo"]);
    assert.deepEqual([decoded.width, decoded.height, decoded.isReduced, decoded.format], [640, 480, false, "jpeg"]);
    assert.equal(await decoded.full(), decoded.reduced);
    const { mean, max } = difference(decoded.reduced, viaLibvips);
    assert.ok(mean < 1.5 && max <= 16, `mean ${mean.toFixed(2)}, max ${max}`);
  });

  it("decodes progressive and grey frames with libjpeg-turbo too, grey to three equal channels", async () => {
    const progressive = await decodeAndTrace(await frame((s) => s.jpeg({ quality: 85, progressive: true })));
    assert.deepEqual([progressive.routed, progressive.path], [true, "turbo"]);
    const grey = await decodeAndTrace(await frame((s) => s.toColourspace("b-w").jpeg({ quality: 85 })));
    assert.deepEqual([grey.routed, grey.path, grey.decoded.reduced.data.length], [true, "turbo", 640 * 480 * 3]);
    const { data } = grey.decoded.reduced;
    assert.ok(data[3000] === data[3001] && data[3001] === data[3002]);
    assert.ok(difference(grey.decoded.reduced, grey.viaLibvips).mean < 1.5);
  });

  it("leaves CMYK, EXIF-rotated, ICC-tagged and too-large JPEGs to libvips, with its result", async () => {
    const cmyk = await decodeAndTrace(await frame((s) => s.toColourspace("cmyk").jpeg({ quality: 85 })));
    assert.deepEqual([cmyk.routed, cmyk.path, cmyk.decoded.reduced.data.length], [false, "libvips", 640 * 480 * 3]);

    const rotated = await decodeAndTrace(withOrientation(await frame(), 6));
    assert.deepEqual([rotated.routed, rotated.path, rotated.decoded.width, rotated.decoded.height], [false, "libvips", 480, 640]);

    for (const profile of ["p3", "srgb"]) {
      const tagged = await decodeAndTrace(await frame((s) => s.withIccProfile(profile).jpeg({ quality: 85 })));
      assert.deepEqual([tagged.routed, tagged.path], [false, "libvips"], profile);
    }

    const large = await sharp(await photo("group/couple.jpg")).resize(1280, 960, { fit: "cover" }).jpeg().toBuffer();
    assert.equal(decodableByTurbo(large, readImageHeader(large, "jpeg"), DETECT_SIDE), false);
    assert.equal((await decodeImage(large, LIMITS, DETECT_SIDE)).isReduced, true);
  });

  it("rejects a truncated JPEG with libvips' message, and takes a zero-padded one", async () => {
    const bytes = await frame();
    const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.7));
    assert.equal(decodableByTurbo(truncated, readImageHeader(truncated, "jpeg"), DETECT_SIDE), false);
    const libvips = await libvipsPixels(truncated).then(() => "", (err: Error) => err.message);
    assert.match(libvips, /premature end/);
    await assert.rejects(decodeImage(truncated, LIMITS, DETECT_SIDE), (e: ImageError) => e.problem === "UNDECODABLE" && e.message === `could not be decoded as JPEG (${libvips})`);

    const padded = Buffer.concat([bytes, Buffer.alloc(64)]);
    const { path } = await decodeAndTrace(padded);
    assert.equal(path, "turbo");
  });

  it("hands data libjpeg-turbo finds corrupt to libvips, which decides as before", async () => {
    // Cut mid-scan then closed with EOI: libjpeg warns, libjpeg-turbo fails on the warning, libvips (failOn "error") decodes it.
    const bytes = await frame();
    const patched = Buffer.concat([bytes.subarray(0, Math.floor(bytes.length * 0.6)), Buffer.from([0xff, 0xd9])]);
    assert.equal(await decodeWithTurbo(patched), undefined);
    const { routed, path } = await decodeAndTrace(patched);
    assert.deepEqual([routed, path], [true, "libvips"]);
  });

  it("rejects garbage after SOI as undecodable JPEG", async () => {
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(500, 0x37), Buffer.from([0xff, 0xd9])]);
    await assert.rejects(decodeImage(garbage, LIMITS, DETECT_SIDE), (e: ImageError) => e.problem === "UNDECODABLE" && /^could not be decoded as JPEG \(/.test(e.message));
  });

  it("aligns and embeds a frame's faces from the libjpeg-turbo pixels, matching libvips' embeddings", async () => {
    const engine = await testEngine();
    const bytes = await frame();
    const turbo = await decodeImage(bytes, LIMITS, DETECT_SIDE);
    const libvips = await libvipsPixels(bytes);
    const embed = async (image: Parameters<typeof engine.detect>[0]) => engine.analyse(image, await engine.detect(image, { minScore: 0.7 }));
    const [fromTurbo, fromLibvips] = [await embed(turbo), await embed(libvips)];
    assert.equal(fromTurbo.length, 2);
    assert.equal(fromTurbo.length, fromLibvips.length);
    for (let i = 0; i < fromTurbo.length; i++) {
      const similarity = cosine(fromTurbo[i]!.embedding, fromLibvips[i]!.embedding);
      assert.ok(similarity > 0.99, `face ${i}: cosine ${similarity.toFixed(4)}`);
    }
  });
});
