import assert from "node:assert/strict";
import sharp, { type Sharp } from "sharp";
import { decodeImage, ImageError } from "../../services/vision/domain/pipeline/decode.js";
import { readImageHeader, sniffFormat, uprightSize } from "../../services/vision/domain/pipeline/image-header.js";
import { photo } from "./support.js";

const LIMITS = { maxBytes: 8 * 1024 * 1024, maxMegapixels: 25 };

describe("image header", () => {
  it("reads the size and EXIF orientation libvips reads, for JPEG, PNG and WebP", async () => {
    const base = await sharp(await photo("identities/img1.jpg")).resize(300, 200, { fit: "fill" }).toBuffer();
    const encoders = {
      jpeg: (s: Sharp) => s.jpeg(),
      "progressive jpeg": (s: Sharp) => s.jpeg({ progressive: true }),
      "grey jpeg": (s: Sharp) => s.greyscale().jpeg(),
      png: (s: Sharp) => s.png(),
      "png with alpha": (s: Sharp) => s.ensureAlpha(0.5).png(),
      webp: (s: Sharp) => s.webp(),
      "lossless webp": (s: Sharp) => s.webp({ lossless: true }),
      "webp with alpha": (s: Sharp) => s.ensureAlpha(0.5).webp(),
    };
    for (const [name, encode] of Object.entries(encoders)) {
      for (const orientation of [1, 3, 6, 8]) {
        const bytes = await encode(sharp(base)).withMetadata({ orientation }).toBuffer();
        const meta = await sharp(bytes).metadata();
        const header = readImageHeader(bytes, sniffFormat(bytes)!);
        assert.deepEqual(uprightSize(header), meta.autoOrient, `${name}, orientation ${orientation}`);
        assert.equal(header.orientation, meta.orientation ?? 1, `${name}, orientation ${orientation}`);
      }
    }
  });

  it("reads a JPEG's coding process, colour space and ICC profile as libvips sees them", async () => {
    const base = sharp(await photo("identities/img1.jpg")).resize(300, 200, { fit: "fill" });
    const frames = {
      baseline: [base.clone().jpeg(), { sof: 0xc0, precision: 8, colour: "ycbcr", iccProfile: false }],
      progressive: [base.clone().jpeg({ progressive: true }), { sof: 0xc2, precision: 8, colour: "ycbcr", iccProfile: false }],
      grey: [base.clone().toColourspace("b-w").jpeg(), { sof: 0xc0, precision: 8, colour: "grey", iccProfile: false }],
      cmyk: [base.clone().toColourspace("cmyk").jpeg(), { sof: 0xc0, precision: 8, colour: "cmyk", iccProfile: false }],
      "Display P3": [base.clone().withIccProfile("p3").jpeg(), { sof: 0xc0, precision: 8, colour: "ycbcr", iccProfile: true }],
    } as const;
    for (const [name, [encoder, expected]] of Object.entries(frames)) {
      const bytes = await encoder.toBuffer();
      const meta = await sharp(bytes).metadata();
      assert.deepEqual(readImageHeader(bytes, "jpeg").jpeg, expected, name);
      assert.deepEqual([meta.isProgressive, meta.channels === 1, meta.space === "cmyk", meta.icc !== undefined], [
        expected.sof === 0xc2, expected.colour === "grey", expected.colour === "cmyk", expected.iccProfile,
      ], name);
    }
  });

  it("gives a rotated photo reduced for detection its upright size", async () => {
    const bytes = await sharp(await photo("identities/img2.jpg")).withMetadata({ orientation: 6 }).toBuffer();
    const decoded = await decodeImage(bytes, LIMITS, 640);
    assert.deepEqual([decoded.width, decoded.height, decoded.reduced.width, decoded.reduced.height], [1152, 1536, 480, 640]);
    const full = await decoded.full();
    assert.deepEqual([full.width, full.height], [1152, 1536]);
  });

  it("rejects a header that ends early or lacks a frame, naming the problem", async () => {
    const jpeg = await photo("identities/img1.jpg");
    await assert.rejects(decodeImage(jpeg.subarray(0, 4), LIMITS, 640), (e: ImageError) => e.problem === "UNDECODABLE" && /JPEG \(ends inside a marker segment\)/.test(e.message));
    const noFrame = Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0x00]);
    await assert.rejects(decodeImage(noFrame, LIMITS, 640), (e: ImageError) => /JPEG \(has no frame header before the image data\)/.test(e.message));
    const small = sharp(jpeg).resize(64);
    const png = await small.clone().png().toBuffer();
    await assert.rejects(decodeImage(png.subarray(0, 20), LIMITS, 640), (e: ImageError) => /PNG \(has no IHDR chunk\)/.test(e.message));
    const webp = await small.clone().webp().toBuffer();
    await assert.rejects(decodeImage(webp.subarray(0, 16), LIMITS, 640), (e: ImageError) => /WebP \(has no VP8, VP8L or VP8X chunk\)/i.test(e.message));
  });
});
