import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import sharp from "sharp";
import { status } from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DropReason, EnrolRejectReason, IndexKind } from "../../gen/rollcall/vision/v1/vision_pb.js";
import type { AppError } from "../../services/runtime/errors.js";
import { startTestMesh, type TestMesh } from "./mesh.js";
import { photo } from "./support.js";

const code = (expected: status) => (err: AppError) => err.code === expected;

/** The whole mesh, as `npm start` runs it, called over gRPC with tokens of a test signer. */
describe("VisionService over gRPC (the real mesh)", function () {
  this.timeout(60_000);
  let mesh: TestMesh;
  let vision: TestMesh["vision"];
  let tokens: TestMesh["tokens"];
  let ORG: string, ADMIN: string, MEMBER: string, DEVICE: string;

  before(async () => {
    mesh = await startTestMesh();
    ({ vision, tokens, org: ORG } = mesh);
    ({ admin: ADMIN, member: MEMBER, device: DEVICE } = mesh.users);
  });
  after(async () => {
    await mesh?.stop();
  });

  it("detects faces for any signed-in caller, and refuses callers without a token", async () => {
    const res = await vision.detect({ image: await photo("group/couple.jpg") }, { bearer: tokens.member });
    assert.equal(res.faces.length, 2);
    assert.deepEqual([res.imageWidth, res.imageHeight], [2280, 1588]);
    assert.equal(res.faces[0]!.landmarks.length, 5);
    await assert.rejects(vision.detect({ image: await photo("group/couple.jpg") }), code(status.UNAUTHENTICATED));
  });

  it("answers INVALID_ARGUMENT naming the field and the limit for bad images", async () => {
    const huge = await sharp({ create: { width: 6000, height: 5200, channels: 3, background: "#777" } }).png({ compressionLevel: 1 }).toBuffer();
    await assert.rejects(vision.detect({ image: huge }, { bearer: tokens.member }), (err: AppError) =>
      err.code === status.INVALID_ARGUMENT && err.message === "image: 31.2 megapixels exceeds the limit of 25");
    await assert.rejects(vision.detect({ image: Buffer.from("GIF89a") }, { bearer: tokens.member }), (err: AppError) =>
      err.code === status.INVALID_ARGUMENT && /^image: is not a JPEG, PNG or WebP image$/.test(err.message));
    await assert.rejects(vision.detect({ image: new Uint8Array() }, { bearer: tokens.member }), code(status.INVALID_ARGUMENT));
    await assert.rejects(vision.detect({ image: await photo("group/couple.jpg"), maxFaces: 101 }, { bearer: tokens.member }), code(status.INVALID_ARGUMENT));
  });

  it("streams a device's frames: one answer per frame with event ids; other devices' frames end the stream", async () => {
    const frameImage = await sharp(await photo("identities/img20.jpg")).resize({ width: 1280, height: 720, fit: "contain" }).jpeg().toBuffer();
    const frame = (i: number, deviceId = DEVICE) => ({
      frame: { deviceId, frameId: `f-${i}-${randomUUID()}`, sequence: BigInt(i), captureTime: timestampFromDate(new Date()), payload: { case: "image" as const, value: frameImage } },
    });
    async function* frames() {
      yield frame(1);
      yield frame(2);
    }
    const answers = [];
    for await (const answer of vision.streamFrames(frames(), { bearer: tokens.device })) answers.push(answer);
    assert.equal(answers.length, 2);
    assert.equal(answers[0]!.droppedReason, DropReason.UNSPECIFIED);
    assert.equal(answers[0]!.faces.length, 1);
    assert.equal(answers[0]!.faces[0]!.unknown, true);
    assert.match(answers[0]!.faces[0]!.eventId, /^[0-9a-f-]{36}$/);
    const metrics = await (await fetch(`http://127.0.0.1:${mesh.host.adminPort}/metrics`)).text();
    assert.match(metrics, /^vision_frames_total\{outcome="processed"\} 2$/m);

    async function* spoofed() {
      yield frame(3, randomUUID());
    }
    await assert.rejects(async () => {
      for await (const _ of vision.streamFrames(spoofed(), { bearer: tokens.device })) void _;
    }, (err: AppError) => err.code === status.PERMISSION_DENIED && /a device may only send its own frames/.test(err.message));
    await assert.rejects(async () => {
      for await (const _ of vision.streamFrames(frames(), { bearer: tokens.member })) void _;
    }, (err: AppError) => err.code === status.PERMISSION_DENIED && /needs a device token/.test(err.message));
  });

  it("enrols, identifies, verifies, lists and deletes faces under authz", async () => {
    const bearer = tokens.admin;
    const enrolled = await vision.enrol(
      { userId: MEMBER, photos: [{ filename: "one.jpg", content: await photo("identities/img1.jpg") }, { filename: "cat.png", content: await photo("noface/chelsea.png") }] },
      { bearer },
    );
    assert.deepEqual(enrolled.results.map((r) => [r.accepted, r.rejectReason]), [[true, EnrolRejectReason.UNSPECIFIED], [false, EnrolRejectReason.NO_FACE]]);
    assert.match(enrolled.results[1]!.detail, /^cat\.png: no face was found$/);
    assert.deepEqual([enrolled.faceCount, enrolled.faceLimit], [1, 5]);

    const identified = await vision.identify({ image: await photo("identities/img2.jpg") }, { bearer });
    assert.equal(identified.faces[0]!.match?.userId, MEMBER);
    assert.equal(identified.faces[0]!.match?.faceLabel, mesh.memberFaceLabel, "the person's face label from identity");
    assert.equal(identified.threshold.toFixed(2), "0.45");
    const verified = await vision.verify({ image: await photo("identities/img4.jpg"), userId: MEMBER }, { bearer });
    assert.equal(verified.match, true);
    await assert.rejects(vision.verify({ image: await photo("identities/img4.jpg"), userId: ADMIN }, { bearer }), code(status.FAILED_PRECONDITION));

    const listed = await vision.listFaces({ userId: MEMBER }, { bearer });
    assert.equal(listed.faces.length, 1);
    assert.equal(listed.faces[0]!.id, enrolled.results[0]!.faceId);
    assert.ok(listed.faces[0]!.indexLabel > 0n);

    const stats = await vision.indexStats({}, { bearer });
    assert.deepEqual([stats.stats!.count, stats.stats!.kind, stats.stats!.dimension], [1n, IndexKind.FLAT, 128]);
    const rebuilt = await vision.rebuildIndex({}, { bearer });
    assert.equal(rebuilt.stats!.count, 1n);

    assert.deepEqual(await vision.deleteFace({ faceId: listed.faces[0]!.id }, { bearer }), { $typeName: "rollcall.vision.v1.DeleteFaceResponse", faceCount: 0 });
    await assert.rejects(vision.deleteFace({ faceId: listed.faces[0]!.id }, { bearer }), code(status.NOT_FOUND));
    assert.equal((await vision.deleteUserFaces({ userId: MEMBER }, { bearer })).deletedCount, 0);
    assert.equal((await vision.identify({ image: await photo("identities/img2.jpg") }, { bearer })).faces[0]!.unknown, true);
  });

  it("refuses what the caller's roles do not grant, and other organisations", async () => {
    await assert.rejects(vision.identify({ image: await photo("identities/img2.jpg") }, { bearer: tokens.member }), code(status.PERMISSION_DENIED));
    await assert.rejects(
      vision.enrol({ userId: ADMIN, photos: [{ filename: "x.jpg", content: await photo("identities/img1.jpg") }] }, { bearer: tokens.member }),
      code(status.PERMISSION_DENIED),
    );
    await assert.rejects(vision.indexStats({ organizationId: randomUUID() }, { bearer: tokens.admin }), code(status.PERMISSION_DENIED));
  });

  it("enrols only people identity knows in the caller's organisation, and not deleted ones", async () => {
    const photos = [{ filename: "one.jpg", content: await photo("identities/img5.jpg") }];
    const stranger = randomUUID();
    await assert.rejects(vision.enrol({ userId: stranger, photos }, { bearer: tokens.admin }), (err: AppError) =>
      err.code === status.NOT_FOUND && err.message.includes(stranger));
    const { user } = await mesh.identityUsers.createUser({
      organizationId: ORG, username: "leaver", email: "leaver@example.com", password: "Correct-horse-battery-9", firstName: "Lea", lastName: "Ver",
    });
    await mesh.identityUsers.deleteUser({ userId: user!.id });
    await assert.rejects(vision.enrol({ userId: user!.id, photos }, { bearer: tokens.admin }), (err: AppError) =>
      err.code === status.NOT_FOUND && err.message.includes(user!.id));
    assert.equal((await vision.listFaces({ userId: user!.id }, { bearer: tokens.admin })).faces.length, 0, "nothing was stored");
  });
});
