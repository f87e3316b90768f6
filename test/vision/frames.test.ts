import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FrameMessageSchema, RecognitionEventSchema } from "../../gen/rollcall/vision/v1/bus_pb.js";
import { PlatformEventSchema, AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { createLogger } from "../../services/runtime/logger.js";
import { Sql } from "../../services/runtime/db/index.js";
import type { BusMessage, Consumer } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { AuditPublisher } from "../../services/runtime/audit-publisher.js";
import { VISION_MIGRATIONS } from "../../services/vision/storage/migrations.js";
import { createVisionCore, type VisionCore } from "../../services/vision/domain/vision-core.js";
import { EventsPublisher } from "../../services/vision/domain/frames/events-publisher.js";
import { FrameProcessor, type FrameInput } from "../../services/vision/domain/frames/frame-processor.js";
import { processStream } from "../../services/vision/domain/frames/frame-stream.js";
import { recognitionEventId } from "../../services/vision/domain/frames/event-ids.js";
import { consumeFrames } from "../../services/vision/handlers/frames-consumer.js";
import { openTestDatabase, type TestDatabase } from "../support/database.js";
import { openTestBus, type TestBus } from "../support/bus.js";
import { newSigner, signToken } from "../support/tokens.js";
import { createLocalJWKSet } from "jose";
import { Authenticator } from "../../services/runtime/auth/authenticator.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { photo, testEngine, testVisionConfig } from "./support.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const ORG = randomUUID();
const DEVICE = randomUUID();
const ALICE = randomUUID();

/** Collects what lands on a stream. */
function collect(testBus: TestBus, stream: string): { messages: BusMessage[]; consumer: Consumer } {
  const messages: BusMessage[] = [];
  const consumer = testBus.bus.consume({ stream, durable: `test-${stream}` }, async (batch) => void messages.push(...batch));
  return { messages, consumer };
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("vision frames: recognitions, unknown faces, staleness, the FRAMES queue", function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let testBus: TestBus;
  let dataDir: string;
  let core: VisionCore;
  let processor: FrameProcessor;
  let recognitions: ReturnType<typeof collect>;
  let events: ReturnType<typeof collect>;
  let aliceFrame: Buffer;
  let strangerFrame: Buffer;
  let sequence = 0n;

  const frame = (image: Uint8Array, overrides: Partial<FrameInput> = {}): FrameInput => ({
    organizationId: ORG, deviceId: DEVICE, frameId: randomUUID(), sequence: ++sequence, captureTime: new Date(), image, ...overrides,
  });

  before(async () => {
    database = await openTestDatabase(logger);
    await database.db.migrate("vision", VISION_MIGRATIONS);
    testBus = await openTestBus();
    dataDir = await mkdtemp(path.join(tmpdir(), "vision-frames-"));
    core = await createVisionCore({ config: testVisionConfig(), db: database.db, dataDir, logger, engine: await testEngine(), persistDelayMs: 20 });
    await core.enrolment.enrol(ORG, { userId: ALICE, faceLabel: 41n }, [{ filename: "alice.jpg", content: await photo("identities/img1.jpg") }]);
    processor = new FrameProcessor(core, new EventsPublisher(testBus.bus), { staleFrameMs: 5_000 }, logger);
    await testBus.bus.ensureStream(STREAMS.recognitions);
    await testBus.bus.ensureStream(STREAMS.events);
    await testBus.bus.ensureStream(STREAMS.audit);
    recognitions = collect(testBus, STREAMS.recognitions.name);
    events = collect(testBus, STREAMS.events.name);
    const asFrame = async (file: string) => sharp(await photo(file)).resize({ width: 1280, height: 720, fit: "contain" }).jpeg({ quality: 85 }).toBuffer();
    aliceFrame = await asFrame("identities/img2.jpg");
    strangerFrame = await asFrame("identities/img20.jpg");
  });
  after(async () => {
    await recognitions?.consumer.stop();
    await events?.consumer.stop();
    await core?.registry.stop();
    await testBus?.cleanup();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("recognises a known face and publishes a RecognitionEvent with a deterministic id", async () => {
    const input = frame(aliceFrame);
    const outcome = await processor.process(input);
    assert.equal(outcome.dropped, undefined);
    assert.equal(outcome.faces.length, 1);
    assert.equal(outcome.faces[0]!.face.match?.userId, ALICE);
    assert.equal(outcome.faces[0]!.eventId, recognitionEventId(DEVICE, input.frameId, 0));
    await until(() => recognitions.messages.length === 1, "the recognition event");
    const event = fromBinary(RecognitionEventSchema, recognitions.messages[0]!.data);
    assert.equal(recognitions.messages[0]!.subject, `recognitions.${ORG}`);
    assert.deepEqual([event.eventId, event.userId, event.deviceId, event.frameId, event.unknown], [outcome.faces[0]!.eventId, ALICE, DEVICE, input.frameId, false]);
    assert.equal(event.faceLabel, 41n, "the person's face label from identity travels with the event");
    assert.ok(event.similarity >= 0.45);
  });

  it("drops a repeated frame id and a frame older than the last one processed", async () => {
    const input = frame(aliceFrame);
    await processor.process(input);
    assert.equal((await processor.process({ ...input })).dropped, "DUPLICATE");
    // Older than the processed frame's capture, however long processing it took.
    const older = await processor.process(frame(aliceFrame, { sequence: input.sequence - 1n, captureTime: new Date(input.captureTime!.getTime() - 1000) }));
    assert.equal(older.dropped, "STALE");
    const restarted = await processor.process(frame(aliceFrame, { sequence: 1n }));
    assert.equal(restarted.dropped, undefined, "an agent restart counts from 1 with newer capture times");
  });

  it("processes, once, a frame the FRAMES queue hands out again after later ones (its first consumer died)", async () => {
    const later = frame(aliceFrame);
    await processor.process(later);
    const late = frame(aliceFrame, { sequence: later.sequence - 1n, captureTime: new Date(Date.now() - 1000), redelivered: true });
    assert.equal((await processor.process(late)).dropped, undefined, "late, not stale: its sighting still counts");
    assert.equal((await processor.process({ ...late })).dropped, "DUPLICATE");
    const next = await processor.process(frame(aliceFrame));
    assert.equal(next.dropped, undefined, "the order of what follows is unaffected");
  });

  it("drops frames captured longer ago than the staleness limit, and malformed frames, with a reason", async () => {
    const stale = await processor.process(frame(aliceFrame, { captureTime: new Date(Date.now() - 6_000) }));
    assert.equal(stale.dropped, "STALE");
    assert.match(stale.detail, /captured \d+ ms ago; frames older than 5000 ms are dropped/);
    assert.equal((await processor.process(frame(Buffer.from("nope")))).dropped, "INVALID");
    const both = await processor.process({ ...frame(aliceFrame), crops: [] });
    assert.deepEqual([both.dropped, both.detail], ["INVALID", "exactly one of image or crops is required"]);
    assert.ok(processor.counts.STALE >= 2 && processor.counts.INVALID >= 2);
  });

  it("keeps a crop of an unknown face for review and publishes UNKNOWN_FACE", async () => {
    const before = events.messages.length;
    const input = frame(strangerFrame);
    const outcome = await processor.process(input);
    assert.equal(outcome.faces[0]!.face.unknown, true);
    await until(() => events.messages.length === before + 1, "the platform event");
    const event = fromBinary(PlatformEventSchema, events.messages.at(-1)!.data);
    assert.equal(event.type, "UNKNOWN_FACE");
    const sql = new Sql(database.db.sequelize);
    const [row] = await database.db.withTenant(ORG, (tx) =>
      sql.rows<{ id: string; user_id: string | null; device_id: string; image_type: string }>(tx, "SELECT id, user_id, device_id, image_type FROM vision.face_images WHERE id = $1", [event.referenceId]),
    );
    assert.deepEqual(row, { id: event.referenceId, user_id: null, device_id: DEVICE, image_type: "UNKNOWN" });
    const file = (await core.images.get(`${ORG}/${row!.id.slice(0, 2)}/${row!.id}.jpg`));
    assert.equal((await sharp(file).metadata()).format, "jpeg");
  });

  it("matches face crops sent by an agent with their landmarks", async () => {
    const image = await core.engine.decode(aliceFrame);
    const [face] = await core.engine.detect(image);
    const { x, y, width, height } = face!.box;
    const left = Math.max(0, Math.round(x - width * 0.2));
    const top = Math.max(0, Math.round(y - height * 0.2));
    const cropW = Math.min(image.width - left, Math.round(width * 1.4));
    const cropH = Math.min(image.height - top, Math.round(height * 1.4));
    const crop = await sharp(aliceFrame).extract({ left, top, width: cropW, height: cropH }).resize({ width: 200 }).jpeg({ quality: 90 }).toBuffer();
    const scale = 200 / cropW;
    const landmarks = face!.landmarks.map((p) => ({ x: (p.x - left) * scale, y: (p.y - top) * scale }));
    const outcome = await processor.process({ ...frame(aliceFrame), image: undefined, crops: [{ image: crop, landmarks, box: face!.box, score: face!.score }] });
    assert.equal(outcome.faces[0]!.face.match?.userId, ALICE);
    assert.deepEqual(outcome.faces[0]!.face.detection.box, face!.box);
  });

  it("answers OVERLOADED when frames arrive faster than the stream's queue drains, in order, each once", async () => {
    const inputs = Array.from({ length: 6 }, () => frame(aliceFrame));
    async function* requests() {
      for (const input of inputs) yield input;
    }
    const answers = [];
    for await (const answer of processStream(requests(), (f: FrameInput) => ({ frame: f }), processor, 1, new AbortController().signal)) answers.push(answer);
    assert.deepEqual(answers.map((a) => a.frameId).sort(), inputs.map((i) => i.frameId).sort());
    assert.ok(answers.some((a) => a.dropped === "OVERLOADED"), "some frames were shed");
    assert.ok(answers.some((a) => a.dropped === undefined), "some were processed");
  });

  it("consumes the FRAMES queue: recognises, and rejects and audits a frame for another device or without its device token", async () => {
    const audit = collect(testBus, STREAMS.audit.name);
    const signer = await newSigner();
    const authenticator = new Authenticator(new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: createLocalJWKSet({ keys: [signer.publicJwk] }) }));
    const deviceToken = await signToken(signer, { typ: "device", sub: DEVICE, org: ORG, roles: [] });
    const consumer = await consumeFrames(testBus.bus, processor, new AuditPublisher(testBus.bus, "vision", logger), logger, authenticator);
    try {
      const publish = (subjectDevice: string, payloadDevice: string, token: string | null = deviceToken) => {
        const message = create(FrameMessageSchema, {
          organizationId: ORG,
          publishedAt: timestampFromDate(new Date()),
          frame: { deviceId: payloadDevice, frameId: randomUUID(), sequence: ++sequence, captureTime: timestampFromDate(new Date()), payload: { case: "image", value: aliceFrame } },
        });
        return testBus.bus.publish(`frames.${ORG}.${subjectDevice}`, toBinary(FrameMessageSchema, message), { msgId: message.frame!.frameId, headers: token ? { authorization: `Bearer ${token}` } : undefined });
      };
      const before = recognitions.messages.length;
      await publish(DEVICE, DEVICE);
      await until(() => recognitions.messages.length === before + 1, "a recognition from the queue");
      await publish(DEVICE, randomUUID());
      await until(() => consumer.counters.rejected === 1, "the rejection");
      await until(() => audit.messages.length === 1, "the audit event");
      const denied = fromBinary(AuditEventSchema, audit.messages[0]!.data);
      assert.equal(denied.action, "vision.frames.denied");
      // The device token (identity's IssueDeviceToken) must come with the frame, and be this device's.
      await publish(DEVICE, DEVICE, null);
      await publish(DEVICE, DEVICE, await signToken(signer, { typ: "device", sub: randomUUID(), org: ORG, roles: [] }));
      await publish(DEVICE, DEVICE, await signToken(signer, { typ: "user", sub: ALICE, org: ORG, roles: ["ADMIN"] }));
      await until(() => consumer.counters.rejected === 4, "the three frames without this device's token rejected");
      assert.equal(recognitions.messages.length, before + 1);
    } finally {
      await consumer.stop();
      await audit.consumer.stop();
    }
  });
});
