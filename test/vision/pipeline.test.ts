import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { decodeImage, ImageError, sniffFormat } from "../../services/vision/domain/pipeline/decode.js";
import { ARCFACE_TEMPLATE, alignFace, estimateSimilarity } from "../../services/vision/domain/pipeline/align.js";
import { cosine } from "../../services/vision/domain/pipeline/embedder.js";
import { loadVerifiedModels, MODELS } from "../../services/vision/domain/pipeline/models.js";
import type { FaceEngine } from "../../services/vision/domain/pipeline/engine.js";
import type { Detection } from "../../services/vision/domain/pipeline/detector.js";
import { FACES_DIR, MODELS_DIR, photo, testEngine } from "./support.js";
import { readdir } from "node:fs/promises";

const LIMITS = { maxBytes: 8 * 1024 * 1024, maxMegapixels: 25 };

describe("vision pipeline", function () {
  this.timeout(30_000);
  let engine: FaceEngine;
  before(async () => {
    engine = await testEngine();
  });

  describe("models", () => {
    it("verifies every model by sha256 and names a missing or altered file with the command to fetch it", async () => {
      await loadVerifiedModels(MODELS_DIR);
      const dir = await mkdtemp(path.join(tmpdir(), "vision-models-"));
      try {
        await copyFile(path.join(MODELS_DIR, MODELS[0]!.file), path.join(dir, MODELS[0]!.file));
        await writeFile(path.join(dir, MODELS[1]!.file), "not a model");
        await assert.rejects(loadVerifiedModels(dir), (err: Error) => {
          assert.match(err.message, new RegExp(`${MODELS[1]!.file} has sha256 [0-9a-f]{64}, expected ${MODELS[1]!.sha256}`));
          assert.match(err.message, /npm run models -- --from \.\.\/shared\/models/);
          return true;
        });
        await rm(path.join(dir, MODELS[0]!.file));
        await assert.rejects(loadVerifiedModels(dir), new RegExp(`${MODELS[0]!.file} is missing`));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("decode", () => {
    it("sniffs the format from the content, not the name (img47.jpg is a PNG)", async () => {
      assert.equal(sniffFormat(await photo("identities/img47.jpg")), "png");
      assert.equal(sniffFormat(await photo("identities/img1.jpg")), "jpeg");
      const webp = await sharp(await photo("identities/img1.jpg")).resize(200).webp().toBuffer();
      const decoded = await decodeImage(webp, LIMITS, 640);
      assert.deepEqual([decoded.format, decoded.width, decoded.reduced.data.length], ["webp", 200, 200 * decoded.height * 3]);
    });

    it("rejects non-images and images over the byte or megapixel limit, naming the limit", async () => {
      await assert.rejects(decodeImage(Buffer.from("%PDF-1.4 not an image"), LIMITS, 640), (e: ImageError) => e.problem === "UNDECODABLE" && /not a JPEG, PNG or WebP/.test(e.message));
      await assert.rejects(decodeImage(Buffer.alloc(9 * 1024 * 1024, 0xff), LIMITS, 640), (e: ImageError) => e.problem === "TOO_LARGE" && /9\.0 MiB exceeds the limit of 8\.0 MiB/.test(e.message));
      const huge = await sharp({ create: { width: 6000, height: 5200, channels: 3, background: "#808080" } }).png({ compressionLevel: 1 }).toBuffer();
      await assert.rejects(decodeImage(huge, LIMITS, 640), (e: ImageError) => e.problem === "TOO_LARGE" && /31\.2 megapixels exceeds the limit of 25/.test(e.message));
      const truncated = (await photo("identities/img1.jpg")).subarray(0, 2000);
      await assert.rejects(decodeImage(truncated, LIMITS, 640), (e: ImageError) => e.problem === "UNDECODABLE");
    });

    it("applies EXIF orientation so coordinates are of the upright image", async () => {
      const upright = await sharp({ create: { width: 40, height: 20, channels: 3, background: "#ff0000" } }).jpeg().toBuffer();
      const rotated = await sharp(upright).withMetadata({ orientation: 6 }).toBuffer();
      const decoded = await decodeImage(rotated, LIMITS, 640);
      assert.deepEqual([decoded.width, decoded.height], [20, 40]);
    });
  });

  describe("detect", () => {
    it("decodes a big photo reduced to the detector's size, full pixels only on demand, boxes in full-size pixels", async () => {
      const decoded = await engine.decode(await photo("identities/img2.jpg"));
      assert.deepEqual([decoded.width, decoded.height, decoded.reduced.width, decoded.reduced.height], [1536, 1152, 640, 480]);
      const full = await decoded.full();
      assert.deepEqual([full.width, full.height, full.data.length], [1536, 1152, 1536 * 1152 * 3]);
      const [reduced] = await engine.detect(decoded);
      const [resized] = await engine.detect(full);
      const centre = (d: Detection) => [d.box.x + d.box.width / 2, d.box.y + d.box.height / 2];
      const [rx, ry] = centre(reduced!);
      const [fx, fy] = centre(resized!);
      assert.ok(Math.hypot(rx! - fx!, ry! - fy!) < 0.02 * reduced!.box.width, `same face centre: ${[rx, ry]} vs ${[fx, fy]}`);
      assert.ok(Math.abs(reduced!.box.width / resized!.box.width - 1) < 0.05);
      // A large face is aligned from the reduced pixels: the same embedding as from the full image.
      const [fromReduced] = await engine.analyse(decoded, [reduced!]);
      const [fromFull] = await engine.analyse(full, [reduced!]);
      assert.ok(cosine(fromReduced!.embedding, fromFull!.embedding) > 0.95, `${cosine(fromReduced!.embedding, fromFull!.embedding)}`);
    });

    it("finds the one face of a portrait with five landmarks in the right places", async () => {
      const image = await engine.decode(await photo("identities/img1.jpg"));
      const [face, ...rest] = await engine.detect(image);
      assert.equal(rest.length, 0);
      assert.ok(face!.score > 0.8);
      const [le, re, nose, lm, rm] = face!.landmarks;
      const inside = (p: { x: number; y: number }) =>
        p.x > face!.box.x && p.x < face!.box.x + face!.box.width && p.y > face!.box.y && p.y < face!.box.y + face!.box.height;
      assert.ok(face!.landmarks.every(inside), "landmarks inside the box");
      assert.ok(le.x < re.x && lm.x < rm.x, "left before right");
      assert.ok(le.y < nose.y && nose.y < lm.y, "eyes above nose above mouth");
    });

    it("finds 29 faces on the Solvay conference photo and none on photos without faces", async () => {
      const solvay = await engine.decode(await photo("group/solvay_conference_1927.png"));
      assert.equal((await engine.detect(solvay, { minScore: 0.7 })).length, 29);
      for (const file of await readdir(path.join(FACES_DIR, "noface"))) {
        const image = await engine.decode(await photo(`noface/${file}`));
        assert.deepEqual(await engine.detect(image, { minScore: 0.7 }), [], file);
      }
    });

    it("reports boxes in original pixels whatever the detection scale, largest first", async () => {
      const image = await engine.decode(await photo("group/couple.jpg"));
      const small = await engine.detect(image, { maxSide: 640 });
      const large = await engine.detect(image, { maxSide: 1600 });
      assert.equal(small.length, 2);
      assert.ok(small[0]!.box.width * small[0]!.box.height >= small[1]!.box.width * small[1]!.box.height);
      // Not pixel-identical (the network sees a 2.5x different face), but the same place and size.
      const centre = (b: { x: number; y: number; width: number; height: number }) => ({ x: b.x + b.width / 2, y: b.y + b.height / 2 });
      for (const face of small) {
        const c = centre(face.box);
        const twin = large.find((l) => Math.hypot(centre(l.box).x - c.x, centre(l.box).y - c.y) < 0.25 * l.box.width);
        assert.ok(twin && Math.abs(twin.box.width - face.box.width) < 0.2 * twin.box.width, "same box at both scales");
      }
    });
  });

  describe("align and embed", () => {
    it("estimates the exact similarity transform from points it produced", () => {
      const angle = 0.3;
      const [a, b] = [1.7 * Math.cos(angle), 1.7 * Math.sin(angle)];
      const moved = ARCFACE_TEMPLATE.map((p) => ({ x: a * p.x - b * p.y + 12, y: b * p.x + a * p.y - 7 }));
      const m = estimateSimilarity(ARCFACE_TEMPLATE, moved);
      assert.ok(Math.abs(m.a - a) < 1e-9 && Math.abs(m.b - b) < 1e-9 && Math.abs(m.tx - 12) < 1e-9 && Math.abs(m.ty + 7) < 1e-9);
    });

    it("warps the face onto the template: the aligned crop's landmarks land on the template", async () => {
      const image = await engine.decode(await photo("identities/img2.jpg"));
      const [face] = await engine.detect(image);
      const crop = alignFace(await image.full(), face!.landmarks);
      assert.equal(crop.length, 112 * 112 * 3);
      const redetected = await engine.detect({ width: 112, height: 112, data: crop }, { minScore: 0.3 });
      assert.ok(redetected.length >= 1);
      const error = redetected[0]!.landmarks.map((p, i) => Math.hypot(p.x - ARCFACE_TEMPLATE[i]!.x, p.y - ARCFACE_TEMPLATE[i]!.y));
      assert.ok(Math.max(...error) < 6, `landmarks within 6 px of the template: ${error.map((e) => e.toFixed(1)).join(", ")}`);
    });

    it("embeds unit vectors; the same person is closer than different people; batching changes nothing", async () => {
      const load = async (file: string) => {
        const image = await engine.decode(await photo(`identities/${file}`));
        return { image, faces: await engine.detect(image, { maxFaces: 1 }) };
      };
      // img20 and img21 are the same person (pairs.csv); img1 is someone else.
      const [x, y, z] = await Promise.all([load("img20.jpg"), load("img21.jpg"), load("img1.jpg")]);
      const [ex] = await engine.analyse(x.image, x.faces);
      const [ey] = await engine.analyse(y.image, y.faces);
      const [ez] = await engine.analyse(z.image, z.faces);
      assert.ok(Math.abs(cosine(ex!.embedding, ex!.embedding) - 1) < 1e-5);
      assert.ok(cosine(ex!.embedding, ey!.embedding) > 0.45, "same person above the default threshold");
      assert.ok(cosine(ex!.embedding, ez!.embedding) < 0.3, "different people well below");
      const couple = await engine.decode(await photo("group/couple.jpg"));
      const two = await engine.detect(couple);
      const batched = await engine.analyse(couple, two);
      const single = await engine.analyse(couple, [two[1]!]);
      assert.ok(cosine(batched[1]!.embedding, single[0]!.embedding) > 0.9999);
    });
  });
});
