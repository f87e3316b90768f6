import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "../../services/runtime/logger.js";
import type { Consumer } from "../../services/runtime/bus/bus.js";
import { EventPublisher, Severity } from "../../services/runtime/event-publisher.js";
import { followOrganizationDeletions, ORGANIZATION_DELETED } from "../../services/runtime/organization-deletions.js";
import { VISION_MIGRATIONS } from "../../services/vision/storage/migrations.js";
import { createVisionCore, type VisionCore } from "../../services/vision/domain/vision-core.js";
import { eventually } from "../support/eventually.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { openTestBus, type TestBus } from "../support/bus.js";
import { photo, testEngine, testVisionConfig } from "./support.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const THRESHOLDS = { match: 0.45, lowConfidenceMargin: 0.07 };


describe("vision follows ORGANIZATION_DELETED: a deleted tenant's faces, index and files go", function () {
  this.timeout(60_000);
  const [gone, kept] = [randomUUID(), randomUUID()];
  const [alice, bob] = [randomUUID(), randomUUID()];
  let database: TestDatabase;
  let testBus: TestBus;
  let dataDir: string;
  let core: VisionCore;
  let follower: Consumer;
  let removals = 0;

  before(async () => {
    database = await openTestDatabase(logger);
    await database.db.migrate("vision", VISION_MIGRATIONS);
    testBus = await openTestBus();
    dataDir = await mkdtemp(path.join(tmpdir(), "vision-orgdel-"));
    core = await createVisionCore({ config: testVisionConfig(), db: database.db, dataDir, logger, engine: await testEngine(), persistDelayMs: 10 });
    follower = await followOrganizationDeletions(testBus.bus, "vision", logger, async (org) => {
      removals++;
      await core.library.deleteOrganization(org);
    });
  });
  after(async () => {
    await follower?.stop();
    await core?.registry.stop();
    await testBus?.cleanup();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("removes only that organisation's rows, index and image files, and tolerates the event twice", async () => {
    await core.enrolment.enrol(gone, { userId: alice, faceLabel: 1n }, [{ filename: "a.jpg", content: await photo("identities/img1.jpg") }]);
    await core.enrolment.enrol(kept, { userId: bob, faceLabel: 2n }, [{ filename: "b.jpg", content: await photo("identities/img10.jpg") }]);
    await core.registry.stop(); // index files written now
    const faceDir = path.join(dataDir, "vision", "faces");
    assert.deepEqual((await readdir(faceDir)).sort(), [gone, kept].sort());

    const events = new EventPublisher(testBus.bus, logger);
    const deleted = { organizationId: gone, type: ORGANIZATION_DELETED, severity: Severity.INFO, referenceId: gone };
    await events.publish({ ...deleted, type: "UNKNOWN_FACE" }); // other events are passed over
    await events.publish({ ...deleted, eventId: `organization-deleted-${gone}` });
    await eventually(async () => (await core.library.list(gone, alice)).length === 0, "the organisation's faces to be deleted");

    const identified = await core.recognition.identify(gone, await core.engine.decode(await photo("identities/img2.jpg")), THRESHOLDS);
    assert.equal(identified[0]!.unknown, true, "the deleted organisation's index is empty");
    assert.equal((await core.library.list(kept, bob)).length, 1, "other organisations keep their faces");
    const matchKept = await core.recognition.identify(kept, await core.engine.decode(await photo("identities/img11.jpg")), THRESHOLDS);
    assert.equal(matchKept[0]!.match?.userId, bob);
    const leftFiles = (await readdir(path.join(faceDir, gone), { recursive: true })).filter((f) => /\.(jpg|png|webp)$/.test(f));
    assert.deepEqual(leftFiles, [], "the image files are deleted");
    const indexFiles = await readdir(path.join(dataDir, "vision", "index"));
    assert.ok(!indexFiles.some((f) => f.startsWith(gone)), `no index file is left for the deleted organisation (${indexFiles.join(", ")})`);
    assert.ok(indexFiles.some((f) => f.startsWith(kept)));

    // Redelivered (or published again): nothing left to remove, no error.
    await core.library.deleteOrganization(gone);
    assert.equal(removals, 1, "only the ORGANIZATION_DELETED event triggered a removal");
  });
});
