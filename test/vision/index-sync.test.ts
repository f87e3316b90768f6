import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "../../services/runtime/logger.js";
import { VISION_MIGRATIONS } from "../../services/vision/storage/migrations.js";
import { createVisionCore, type VisionCore } from "../../services/vision/domain/vision-core.js";
import { IndexSync } from "../../services/vision/domain/index/index-sync.js";
import { eventually } from "../support/eventually.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { openTestBus, type TestBus } from "../support/bus.js";
import { photo, testEngine, testVisionConfig } from "./support.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const THRESHOLDS = { match: 0.45, lowConfidenceMargin: 0.07 };
const ORG = randomUUID();
const [ALICE, BOB] = [randomUUID(), randomUUID()];


/** Two vision replicas on one database and bus, each with its own data directory and index copy. */
describe("vision replicas keep their indexes in step", function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let testBus: TestBus;
  const dirs: string[] = [];
  const replicas: { core: VisionCore; sync: IndexSync }[] = [];

  const replica = async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "vision-replica-"));
    dirs.push(dataDir);
    const core = await createVisionCore({ config: testVisionConfig(), db: database.db, dataDir, logger, engine: await testEngine(), persistDelayMs: 10 });
    const sync = new IndexSync(testBus.bus, core.registry, logger, 3_600_000);
    sync.start();
    replicas.push({ core, sync });
    return { core, sync };
  };
  const whoIs = async (core: VisionCore, file: string) =>
    (await core.recognition.identify(ORG, await core.engine.decode(await photo(file)), THRESHOLDS))[0]?.match?.userId;

  before(async () => {
    database = await openTestDatabase(logger);
    await database.db.migrate("vision", VISION_MIGRATIONS);
    testBus = await openTestBus();
  });
  after(async () => {
    for (const { core, sync } of replicas) {
      await sync.stop();
      await core.registry.stop();
    }
    await testBus?.cleanup();
    await database?.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("an enrolment or deletion on one replica is seen by the other (announced on the bus)", async () => {
    const a = await replica();
    const b = await replica();
    assert.equal(await whoIs(b.core, "identities/img2.jpg"), undefined, "B has loaded the organisation's (empty) index");

    await a.core.enrolment.enrol(ORG, { userId: ALICE, faceLabel: 7n }, [{ filename: "a.jpg", content: await photo("identities/img1.jpg") }]);
    await eventually(async () => (await whoIs(b.core, "identities/img2.jpg")) === ALICE, "replica B to recognise the person enrolled on A");

    const [face] = await a.core.library.list(ORG, ALICE);
    await a.core.library.deleteFace(ORG, face!.id);
    await eventually(async () => (await whoIs(b.core, "identities/img2.jpg")) === undefined, "replica B to forget the deleted face");
  });

  it("a replica that missed the announcement catches up at its periodic check", async () => {
    const [a, b] = replicas;
    await b!.sync.stop(); // B hears nothing from now on
    await a!.core.enrolment.enrol(ORG, { userId: BOB, faceLabel: 8n }, [{ filename: "b.jpg", content: await photo("identities/img10.jpg") }]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await whoIs(b!.core, "identities/img11.jpg"), undefined, "B missed the change");
    await b!.core.registry.reconcileStale();
    assert.equal(await whoIs(b!.core, "identities/img11.jpg"), BOB);
    const stats = await b!.core.registry.get(ORG);
    assert.equal(stats.count, 1);
  });
});
