import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { createLogger } from "../../services/runtime/logger.js";
import { Sql } from "../../services/runtime/db/index.js";
import { VISION_MIGRATIONS } from "../../services/vision/storage/migrations.js";
import { createVisionCore, type VisionCore } from "../../services/vision/domain/vision-core.js";
import type { Thresholds } from "../../services/vision/domain/thresholds.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { photo, testEngine, testVisionConfig } from "./support.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const THRESHOLDS: Thresholds = { match: 0.45, lowConfidenceMargin: 0.07 };
const ORG = randomUUID();
const OTHER_ORG = randomUUID();
const [ALICE, BOB, CAROL] = [randomUUID(), randomUUID(), randomUUID()];
// Identity's face labels are stable per person; here each user's is derived from its id.
const person = (userId: string) => ({ userId, faceLabel: BigInt(parseInt(userId.slice(0, 8), 16)) });

describe("vision faces: enrolment, index, recognition (domain, real Postgres and FAISS)", function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let dataDir: string;
  let core: VisionCore;

  const newCore = async (env: Record<string, string> = {}) =>
    createVisionCore({ config: testVisionConfig(env), db: database.db, dataDir, logger, engine: await testEngine(), persistDelayMs: 20 });
  const enrol = async (userId: string, files: string[], org = ORG, on = core) =>
    on.enrolment.enrol(org, person(userId), await Promise.all(files.map(async (f) => ({ filename: f, content: await photo(f) }))));
  const identify = async (file: string, org = ORG, on = core) => on.recognition.identify(org, await on.engine.decode(await photo(file)), THRESHOLDS);

  before(async () => {
    database = await openTestDatabase(logger);
    await database.db.migrate("vision", VISION_MIGRATIONS);
    dataDir = await mkdtemp(path.join(tmpdir(), "vision-faces-"));
    core = await newCore();
  });
  after(async () => {
    await core?.registry.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("enrols good photos and rejects each bad one with its reason, naming the photo", async () => {
    const blurred = await sharp(await photo("identities/img29.jpg")).blur(6).jpeg().toBuffer();
    const outcome = await core.enrolment.enrol(ORG, person(ALICE), [
      { filename: "a.jpg", content: await photo("identities/img26.jpg") },
      { filename: "cat.png", content: await photo("noface/chelsea.png") },
      { filename: "two.jpg", content: await photo("group/couple.jpg") },
      { filename: "small.jpg", content: await photo("identities/img27.jpg") },
      { filename: "blurred.jpg", content: blurred },
      { filename: "notes.txt", content: Buffer.from("hello") },
      { filename: "again.jpg", content: await photo("identities/img26.jpg") },
    ]);
    const summary = outcome.results.map((r) => [r.filename, r.accepted, r.reason ?? ""]);
    assert.deepEqual(summary, [
      ["a.jpg", true, ""],
      ["cat.png", false, "NO_FACE"],
      ["two.jpg", false, "MULTIPLE_FACES"],
      ["small.jpg", false, "TOO_SMALL"],
      ["blurred.jpg", false, "BLURRY"],
      ["notes.txt", false, "UNDECODABLE"],
      ["again.jpg", false, "DUPLICATE"],
    ]);
    assert.match(outcome.results[3]!.detail, /^face \d+ px < 112 px$/);
    assert.equal(outcome.faceCount, 1);
    assert.equal(outcome.faceLimit, 5);
    const [face] = await core.library.list(ORG, ALICE);
    assert.equal(face!.id, outcome.results[0]!.faceId);
    assert.equal(face!.model, core.engine.model.name);
    assert.ok(Number(face!.index_label) > 0);
    await access(path.join(dataDir, "vision", "faces", face!.file_path));
  });

  it("rejects a turned head or a low detector score by the configured gates", async () => {
    // Cores of their own, on their own data directories: their indexes must not be this file's.
    const strict = async (env: Record<string, string>, dir: string) =>
      createVisionCore({ config: testVisionConfig(env), db: database.db, dataDir: path.join(dataDir, dir), logger, engine: await testEngine() });
    const turned = await enrol(CAROL, ["identities/img16.jpg"], ORG, await strict({ ROLLCALL_VISION_ENROL_MAX_YAW: "3" }, "yaw"));
    assert.equal(turned.results[0]!.reason, "NOT_FRONTAL");
    assert.match(turned.results[0]!.detail, /^head turned about \d+° sideways and -?\d+° up\/down \(limits 3°, 30°\)$/);
    const lowScore = await enrol(CAROL, ["identities/img16.jpg"], ORG, await strict({ ROLLCALL_VISION_ENROL_MIN_SCORE: "0.99" }, "score"));
    assert.equal(lowScore.results[0]!.reason, "LOW_SCORE");
    assert.match(lowScore.results[0]!.detail, /^detector score 0\.\d\d < 0\.99$/);
  });

  it("enforces the face limit per user, counting what the call itself adds", async () => {
    const files = ["identities/img1.jpg", "identities/img2.jpg", "identities/img4.jpg", "identities/img5.jpg", "identities/img6.jpg", "identities/img7.jpg"];
    const outcome = await enrol(BOB, files);
    assert.deepEqual(outcome.results.map((r) => r.accepted), [true, true, true, true, true, false]);
    assert.equal(outcome.results[5]!.reason, "LIMIT_REACHED");
    assert.match(outcome.results[5]!.detail, /already has 5 of 5 faces/);
    assert.equal(outcome.faceCount, 5);
  });

  it("identifies enrolled people, leaves others unknown, and never crosses organisations", async () => {
    const [bob] = await identify("identities/img10.jpg");
    assert.equal(bob!.match?.userId, BOB);
    assert.equal(bob!.match?.faceLabel, person(BOB).faceLabel, "a match names the person's face label");
    assert.ok(bob!.match!.similarity >= THRESHOLDS.match);
    const [alice] = await identify("identities/img44.jpg");
    assert.equal(alice!.match?.userId, ALICE);
    const [stranger] = await identify("identities/img20.jpg");
    assert.equal(stranger!.unknown, true);
    assert.equal(stranger!.match, undefined);
    assert.ok(stranger!.bestSimilarity < THRESHOLDS.match);
    const [elsewhere] = await identify("identities/img10.jpg", OTHER_ORG);
    assert.deepEqual([elsewhere!.unknown, elsewhere!.bestSimilarity], [true, -1]);
    assert.deepEqual(await identify("noface/baboon.jpg"), []);
  });

  it("flags matches just above the threshold as low-confidence", async () => {
    const [bob] = await identify("identities/img10.jpg");
    const s = bob!.match!.similarity;
    const near = await core.recognition.identify(ORG, await core.engine.decode(await photo("identities/img10.jpg")), { match: s - 0.01, lowConfidenceMargin: 0.05 });
    assert.deepEqual([near[0]!.unknown, near[0]!.lowConfidence], [false, true]);
    assert.equal(bob!.lowConfidence, s < THRESHOLDS.match + THRESHOLDS.lowConfidenceMargin);
  });

  it("verifies a photo against one user's faces, exactly", async () => {
    const image = await core.engine.decode(await photo("identities/img11.jpg"));
    const same = await core.recognition.verify(ORG, BOB, image, THRESHOLDS);
    const other = await core.recognition.verify(ORG, ALICE, image, THRESHOLDS);
    assert.ok(same!.match && same!.similarity > other!.similarity);
    assert.equal(other!.match, false);
    assert.equal(await core.recognition.verify(ORG, randomUUID(), image, THRESHOLDS), undefined);
    const noFace = await core.recognition.verify(ORG, BOB, await core.engine.decode(await photo("noface/apple.jpg")), THRESHOLDS);
    assert.deepEqual(noFace, { similarity: -1, match: false });
  });

  it("deletes a face and a user's faces from Postgres, the index and the image store", async () => {
    const [first] = await core.library.list(ORG, BOB);
    const deleted = await core.library.deleteFace(ORG, first!.id);
    assert.deepEqual(deleted, { userId: BOB, remaining: 4 });
    assert.equal(await core.library.deleteFace(ORG, first!.id), undefined);
    await assert.rejects(access(path.join(dataDir, "vision", "faces", first!.file_path)));
    assert.equal((await core.registry.get(ORG)).count, 5);
    assert.equal(await core.library.deleteUserFaces(ORG, BOB), 4);
    assert.equal(await core.library.deleteUserFaces(ORG, BOB), 0);
    const [gone] = await identify("identities/img10.jpg");
    assert.equal(gone!.unknown, true);
    assert.equal((await core.registry.get(ORG)).count, 1);
  });

  it("keeps tenants apart in Postgres itself (row-level security)", async () => {
    const sql = new Sql(database.db.sequelize);
    const rows = await database.db.withTenant(OTHER_ORG, (tx) => sql.rows(tx, "SELECT id FROM vision.face_images"));
    assert.deepEqual(rows, []);
    await assert.rejects(
      database.db.withTenant(OTHER_ORG, (tx) =>
        sql.execute(tx, "INSERT INTO vision.face_images (id, organization_id, user_id, image_type, file_path, sha256, width, height) VALUES ($1, $2, $3, 'KNOWN', 'x', $4, 1, 1)", [randomUUID(), ORG, ALICE, "0".repeat(64)]),
      ),
      /row-level security/,
    );
  });

  it("persists index files and, at start, loads them only when intact and current", async () => {
    await enrol(BOB, ["identities/img1.jpg", "identities/img2.jpg"]);
    await core.registry.stop();
    const files = await readdir(path.join(dataDir, "vision", "index"));
    assert.deepEqual(files.sort(), [`${ORG}.index`, `${ORG}.json`]);

    const restarted = await newCore();
    assert.deepEqual(await restarted.registry.openAll(), { loaded: 1, rebuilt: 0, empty: 0 });
    assert.deepEqual(
      [(await identify("identities/img10.jpg", ORG, restarted))[0]!.match?.userId, (await identify("identities/img10.jpg", ORG, restarted))[0]!.match?.faceLabel],
      [BOB, person(BOB).faceLabel],
    );

    // Out of date: a face deleted behind this process's back.
    const sql = new Sql(database.db.sequelize);
    await database.db.withTenant(ORG, (tx) => sql.execute(tx, "DELETE FROM vision.face_images WHERE user_id = $1", [ALICE]));
    const afterDelete = await newCore();
    assert.deepEqual(await afterDelete.registry.openAll(), { loaded: 0, rebuilt: 1, empty: 0 });
    assert.equal((await afterDelete.registry.get(ORG)).count, 2);

    // Damaged file.
    await writeFile(path.join(dataDir, "vision", "index", `${ORG}.index`), "garbage");
    const afterDamage = await newCore();
    assert.deepEqual(await afterDamage.registry.openAll(), { loaded: 0, rebuilt: 1, empty: 0 });
    assert.equal((await identify("identities/img10.jpg", ORG, afterDamage))[0]!.match?.faceLabel, person(BOB).faceLabel, "rebuilt from Postgres with the face label");
    await afterDamage.registry.stop();
  });

  it("switches an organisation to the HNSW tier past the threshold, keeping labels and matches", async () => {
    const ann = await newCore({ ROLLCALL_VISION_ANN_THRESHOLD: "4" });
    const org = randomUUID();
    const people = { [ALICE]: "identities/img26.jpg", [BOB]: "identities/img1.jpg", [CAROL]: "identities/img8.jpg" };
    for (const [user, file] of Object.entries(people)) await enrol(user, [file], org, ann);
    assert.equal((await ann.registry.get(org)).kind, "FLAT");
    const dave = randomUUID();
    await enrol(dave, ["identities/img13.jpg"], org, ann);
    const index = await ann.registry.get(org);
    assert.deepEqual([index.kind, index.count], ["HNSW", 4]);
    assert.equal((await identify("identities/img9.jpg", org, ann))[0]!.match?.userId, CAROL);
    assert.equal((await identify("identities/img14.jpg", org, ann))[0]!.match?.userId, dave);
    await ann.library.deleteUserFaces(org, dave);
    assert.equal((await identify("identities/img14.jpg", org, ann))[0]!.unknown, true);
    await ann.registry.stop();
    const restarted = await newCore({ ROLLCALL_VISION_ANN_THRESHOLD: "3" });
    const reopened = await restarted.registry.get(org);
    assert.deepEqual([reopened.kind, reopened.count], ["HNSW", 3]);
    assert.equal((await identify("identities/img9.jpg", org, restarted))[0]!.match?.userId, CAROL);
    assert.equal((await identify("identities/img9.jpg", org, restarted))[0]!.match?.faceLabel, person(CAROL).faceLabel);
  });
});
