import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { FrameMessageSchema } from "../../gen/rollcall/vision/v1/bus_pb.js";
import { createBus, subjects, type BusMessage } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import type { Mat } from "../../agent/src/cv.js";
import { cameraFrame, FACES_DIR, walkBy, writeFrames } from "../agent/support/frames.js";
import { startE2eMesh, type E2eMesh } from "./support/mesh.js";
import { createTenant, type Tenant } from "./support/tenant.js";
import { eventually, logger, recognitions, sample, scrape, startAgent, today } from "./support/run-agent.js";

const NOFACE = ["noface/home.jpg", "noface/baboon.jpg", "noface/chelsea.png", "noface/building.jpg"];
/** Enrolled with one or two photos; shown to the cameras in other photos. */
const ENROL = { alice: ["img1.jpg", "img4.jpg"], bob: ["img29.jpg", "img30.jpg"], carol: ["img13.jpg", "img14.jpg"] };
const empty = (i: number, n = 8): Mat[] => Array.from({ length: n }, () => cameraFrame(NOFACE[i % NOFACE.length]!));

/**
 * The whole path on real Postgres and Redis with the mesh as separate processes and a NATS of
 * its own: camera frames → agent (motion, YuNet, tracks, crops) → FRAMES → vision → RECOGNITIONS
 * → attendance → today's state; then the same under faults.
 */
describe("end to end: camera frames → recognition → attendance", function () {
  this.timeout(300_000);
  let mesh: E2eMesh;
  let dir: string;

  before(async function () {
    if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
      console.log("    (skipped: the end-to-end test needs DATABASE_URL and REDIS_URL; it starts its own nats-server)");
      this.skip();
    }
    dir = await mkdtemp(path.join(tmpdir(), "rollcall-e2e-frames-"));
    mesh = await startE2eMesh();
  });
  after(async () => {
    await mesh?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("gives the right people the right first-in and last-out, nobody else, and raises unknown faces", async () => {
    const tenant = await createTenant(mesh, ENROL);
    const inFrames = path.join(dir, "in");
    const outFrames = path.join(dir, "out");
    await writeFrames(inFrames, [...walkBy("identities/img2.jpg", 8), ...empty(0), ...walkBy("identities/img31.jpg", 8), ...empty(1), ...walkBy("identities/img18.jpg", 8), ...empty(2)]);
    await writeFrames(outFrames, [...walkBy("identities/img5.jpg", 8), ...empty(3)]);

    const inStart = new Date();
    const entrance = await startAgent(mesh, tenant.cameras.in, inFrames, path.join(dir, "spool-in"));
    await entrance.done;
    await entrance.outbox.drained(30_000);
    const inEnd = new Date();
    const entranceMetrics = await scrape(entrance.metricsPort);
    await entrance.stop();

    const alice = await eventually(async () => { const t = await today(mesh, tenant, tenant.people.alice!); return t.firstIn ? t : undefined; }, "alice's first in");
    const bob = await eventually(async () => { const t = await today(mesh, tenant, tenant.people.bob!); return t.firstIn ? t : undefined; }, "bob's first in");
    for (const [name, t] of [["alice", alice], ["bob", bob]] as const) {
      assert.ok(t.firstIn! >= inStart && t.firstIn! <= inEnd, `${name}'s first in (${t.firstIn!.toISOString()}) is when the entrance camera saw them`);
      assert.equal(t.currentlyIn, true);
      assert.ok(t.events.every((e) => e.deviceId === tenant.cameras.in.id));
    }

    const outStart = new Date();
    const exit = await startAgent(mesh, tenant.cameras.out, outFrames, path.join(dir, "spool-out"));
    await exit.done;
    await exit.outbox.drained(30_000);
    const outEnd = new Date();
    await exit.stop();
    const aliceLater = await eventually(async () => { const t = await today(mesh, tenant, tenant.people.alice!); return t.lastOut ? t : undefined; }, "alice's last out");
    assert.equal(aliceLater.firstIn!.getTime(), alice.firstIn!.getTime(), "first in does not move");
    assert.ok(aliceLater.lastOut! >= outStart && aliceLater.lastOut! <= outEnd);
    assert.equal(aliceLater.currentlyIn, false);

    const carol = await today(mesh, tenant, tenant.people.carol!);
    assert.equal(carol.firstIn, undefined, "carol was enrolled but never came: no attendance");
    assert.deepEqual(carol.events, []);

    const events = await recognitions(mesh, tenant.id);
    const known = new Set(events.filter((e) => !e.unknown).map((e) => e.userId));
    assert.deepEqual([...known].sort(), [tenant.people.alice, tenant.people.bob].sort(), "only alice and bob were recognised");
    assert.ok(events.some((e) => e.unknown), "the stranger (never enrolled) raised an unknown-face recognition");

    assert.equal(sample(entranceMetrics, "rollcall_agent_frames_captured_total"), 48);
    assert.ok(sample(entranceMetrics, "rollcall_agent_frames_motion_skipped_total") >= 3, "still empty frames skipped");
    assert.ok(sample(entranceMetrics, "rollcall_agent_tracks_started_total") >= 3, "three people (a photo may hold a second, small face)");
    assert.ok(sample(entranceMetrics, "rollcall_agent_messages_published_total") >= 3);
    const vision = await scrape(mesh.vision.adminPort);
    assert.ok(sample(vision, "vision_frames_total", 'outcome="processed"') >= 4, "vision processed the agents' crops");
    const attendance = await scrape(mesh.attendance.adminPort);
    assert.ok(sample(attendance, "attendance_recognitions_total", 'outcome="accepted"') >= 3);
    assert.ok(sample(attendance, "attendance_recognitions_total", 'outcome="unknown_face"') >= 1);
  });

  it("vision refuses and audits frames without this device's token", async () => {
    const tenant = await createTenant(mesh, { alice: ["img1.jpg"] });
    const frames = path.join(dir, "refused");
    await writeFrames(frames, walkBy("identities/img2.jpg", 4));
    const refusedIds: string[] = [];
    const agent = await startAgent(mesh, tenant.cameras.in, frames, path.join(dir, "spool-refused"));
    await agent.done;
    await agent.outbox.drained(30_000);
    await agent.stop();
    const bus = await createBus({ url: mesh.nats.url, namespace: mesh.namespace, logger });
    try {
      const frame = create(FrameMessageSchema, {
        organizationId: tenant.id,
        publishedAt: timestampFromDate(new Date()),
        frame: { deviceId: tenant.cameras.in.id, frameId: randomUUID(), sequence: 1n, captureTime: timestampFromDate(new Date()), payload: { case: "image", value: await readFile(path.join(FACES_DIR, "identities", "img2.jpg")) } },
      });
      const subject = subjects.frames(tenant.id, tenant.cameras.in.id);
      const exitToken = (await mesh.client(DeviceService, mesh.core.target).issueDeviceToken({ deviceId: tenant.cameras.out.id, secret: tenant.cameras.out.secret })).accessToken;
      for (const headers of [undefined, { authorization: `Bearer ${exitToken}` }, { authorization: `Bearer ${tenant.adminToken}` }]) {
        const message = create(FrameMessageSchema, { ...frame, frame: { ...frame.frame!, frameId: randomUUID() } });
        await bus.publish(subject, toBinary(FrameMessageSchema, message), { msgId: message.frame!.frameId, headers });
        refusedIds.push(message.frame!.frameId);
      }
      const denied = await eventually(async () => {
        const info = await bus.streamInfo(STREAMS.audit.name);
        if (info.messages === 0) return undefined;
        const seen: BusMessage[] = [];
        const consumer = bus.consume({ stream: STREAMS.audit.name, durable: `e2e-audit-${Date.now()}`, filterSubject: `audit.${tenant.id}.vision` }, async (batch) => void seen.push(...batch));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await consumer.stop();
        const refusals = seen.map((m) => fromBinary(AuditEventSchema, m.data)).filter((e) => e.action === "vision.frames.denied");
        return refusals.length >= 3 ? refusals : undefined;
      }, "three vision.frames.denied audit events");
      assert.equal(denied.length, 3);
      const events = await recognitions(mesh, tenant.id);
      assert.ok(!events.some((e) => refusedIds.includes(e.frameId)), "no recognition from a refused frame");
      assert.ok(events.length >= 1, "the agent's own, properly signed crops were recognised");
    } finally {
      await bus.close();
    }
  });

  /** Every crop the agents sent became exactly one recognition, and every known one exactly one attendance event. */
  async function assertNothingLostOrDoubled(tenant: Tenant, cropsSent: number): Promise<void> {
    const events = await eventually(async () => {
      const all = await recognitions(mesh, tenant.id);
      return new Set(all.map((e) => e.eventId)).size >= cropsSent ? all : undefined;
    }, `${cropsSent} recognitions (redelivery after a kill waits out JetStream's 30 s ack wait)`, 120_000);
    const distinct = new Map(events.map((e) => [e.eventId, e]));
    assert.equal(distinct.size, cropsSent, "one recognition per crop: none lost, none invented");
    const knownIds = new Set([...distinct.values()].filter((e) => !e.unknown && e.userId).map((e) => e.eventId));
    const logged = await eventually(async () => {
      const ids: string[] = [];
      for (const user of Object.values(tenant.people)) ids.push(...(await today(mesh, tenant, user)).events.map((e) => e.eventId));
      return ids.length >= knownIds.size ? ids : undefined;
    }, `${knownIds.size} attendance events`);
    assert.equal(new Set(logged).size, logged.length, "no sighting counted twice");
    assert.equal(logged.length, knownIds.size, "every recognised sighting counted");
    for (const id of logged) assert.ok(knownIds.has(id), `attendance event ${id} comes from a recognition`);
  }

  it("kill -9 of vision and of attendance mid-stream: no recognised sighting lost or counted twice", async () => {
    const tenant = await createTenant(mesh, ENROL, { "attendance.debounce_seconds": 0, "attendance.min_confidence": 0 });
    const frames = path.join(dir, "faults");
    await writeFrames(frames, [...walkBy("identities/img2.jpg", 6), ...empty(0), ...walkBy("identities/img32.jpg", 6), ...empty(1), ...walkBy("identities/img5.jpg", 6), ...empty(2), ...walkBy("identities/img33.jpg", 6), ...empty(3)]);
    const agent = await startAgent(mesh, tenant.cameras.in, frames, path.join(dir, "spool-faults"), { realtime: "true", fps: "4", cropResend: "0", cropImprovement: "0" });
    await eventually(async () => (agent.outbox.published >= 1 ? true : undefined), "a first published crop");
    await mesh.vision.kill9();
    await mesh.vision.start();
    await eventually(async () => (agent.outbox.published >= 3 ? true : undefined), "more crops");
    await mesh.attendance.kill9();
    await mesh.attendance.start();
    await agent.done;
    await agent.outbox.drained(60_000);
    const cropsSent = sample(await scrape(agent.metricsPort), "rollcall_agent_crops_sent_total");
    await agent.stop();
    assert.ok(cropsSent >= 4);
    await assertNothingLostOrDoubled(tenant, cropsSent);
  });

  it("NATS stopped for 30 s while the agent runs: it spools, replays, and nothing is lost or counted twice", async () => {
    const tenant = await createTenant(mesh, ENROL, { "attendance.debounce_seconds": 0, "attendance.min_confidence": 0 });
    const frames = path.join(dir, "outage");
    await writeFrames(frames, [...walkBy("identities/img6.jpg", 6), ...empty(0, 4), ...walkBy("identities/img31.jpg", 6), ...empty(1, 4)]);
    const agent = await startAgent(mesh, tenant.cameras.in, frames, path.join(dir, "spool-outage"), { realtime: "true", fps: "2", loop: "true", cropsPerTrack: "1" });
    await eventually(async () => (agent.outbox.published >= 1 ? true : undefined), "a first published crop");
    await mesh.nats.down();
    const outageStart = Date.now();
    await eventually(async () => (agent.spool.size >= 2 ? true : undefined), "crops spooled during the outage", 40_000);
    const during = await scrape(agent.metricsPort);
    assert.equal(sample(during, "rollcall_agent_connected"), 0);
    assert.ok(sample(during, "rollcall_agent_spool_messages") >= 2);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - outageStart))));
    await mesh.nats.resume();
    await eventually(async () => (agent.spool.size === 0 ? true : undefined), "the spool replayed", 60_000);
    await agent.stop();
    const cropsSent = (await agent.metrics.cropsSent.get()).values[0]?.value ?? 0;
    assert.ok(cropsSent >= 3);
    await assertNothingLostOrDoubled(tenant, cropsSent);
  });
});
