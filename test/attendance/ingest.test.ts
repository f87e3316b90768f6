import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DeviceDirection } from "../../gen/rollcall/identity/v1/device_pb.js";
import { EventType } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { nextMidnight } from "../../services/attendance/domain/calendar.js";
import { TODAY_GRACE_MS, todayKey } from "../../services/attendance/domain/today-store.js";
import { Sql } from "../../services/runtime/db/index.js";
import { EventPublisher, Severity } from "../../services/runtime/event-publisher.js";
import { createLogger } from "../../services/runtime/logger.js";
import { ORGANIZATION_DELETED } from "../../services/runtime/organization-deletions.js";
import { createTenant, eventually, publishRecognition, startWorld, type AttendanceInstance, type AttendanceWorld, type Tenant } from "./fixture.js";
import { daytimeZone } from "./zones.js";

const MIN = 60_000;

describe("attendance: recognitions into IN/OUT events", function () {
  this.timeout(120_000);
  let world: AttendanceWorld;
  let service: AttendanceInstance;
  let org: Tenant;
  let strict: Tenant;
  let zone: string;
  const base = Date.now() - 90 * MIN;
  const at = (minutes: number) => new Date(base + minutes * MIN);

  before(async () => {
    world = await startWorld();
    service = await world.start();
    zone = daytimeZone();
    org = await createTenant(world, zone, { gate: DeviceDirection.IN, exit: DeviceDirection.OUT, door: DeviceDirection.BOTH, lobby: DeviceDirection.BOTH });
    strict = await createTenant(world, zone, { gate: DeviceDirection.IN }, { "attendance.min_confidence": 80, "attendance.debounce_seconds": 600 });
  });
  after(() => world?.stop());

  const todayOf = (tenant: Tenant, userId: string) => service.client(tenant.tokens.operator).getToday({ userId });
  const waitEvents = (tenant: Tenant, userId: string, n: number) =>
    eventually(async () => {
      const today = await todayOf(tenant, userId);
      return today.events.length >= n ? today : undefined;
    }, `${n} events of ${userId}`);
  const logCount = (tenant: Tenant, userId: string) =>
    world.database.db.withTenant(tenant.id, async (tx) => Number((await new Sql(world.database.db.sequelize).row<{ n: string }>(tx, "SELECT count(*) AS n FROM attendance.attendance_logs WHERE user_id = $1", [userId]))!.n));

  it("turns IN and OUT camera sightings into events and today's state; unknown faces are not attendance", async () => {
    const user = org.users.operator;
    await publishRecognition(world, org.id, { deviceId: org.devices.gate!, at: at(0) }); // unknown face
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.gate!, at: at(1) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.exit!, at: at(61) });
    const today = await waitEvents(org, user, 2);
    assert.deepEqual(today.events.map((e) => e.eventType), [EventType.IN, EventType.OUT]);
    assert.equal(today.firstInTime!.seconds, BigInt(Math.floor(at(1).getTime() / 1000)));
    assert.equal(today.lastOutTime!.seconds, BigInt(Math.floor(at(61).getTime() / 1000)));
    assert.equal(today.totalMinutes, 60);
    assert.equal(today.currentlyIn, false);
    assert.equal(today.events[0]!.confidence, 80);
    assert.equal(await logCount(org, user), 2);
  });

  it("on a BOTH camera makes the first sighting of the day IN and later ones OUT", async () => {
    const user = org.users.member;
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.door!, at: at(5) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.door!, at: at(35) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.door!, at: at(65) });
    const today = await waitEvents(org, user, 3);
    assert.deepEqual(today.events.map((e) => e.eventType), [EventType.IN, EventType.OUT, EventType.OUT]);
    assert.equal(today.totalMinutes, 60, "later OUTs move the end of the day's interval");
    assert.equal(today.currentlyIn, false);
  });

  it("collapses repeated sightings by one camera within the debounce window, not those of another camera", async () => {
    const user = org.users.other;
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.lobby!, at: at(10) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.lobby!, at: new Date(at(10).getTime() + 20_000) });
    await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.lobby!, at: new Date(at(10).getTime() + 50_000) });
    const marker = await publishRecognition(world, org.id, { userId: user, deviceId: org.devices.gate!, at: new Date(at(10).getTime() + 55_000) });
    const today = await eventually(async () => {
      const t = await todayOf(org, user);
      return t.events.some((e) => e.eventId === marker) ? t : undefined;
    }, "the marker event");
    assert.equal(today.events.length, 2, "three lobby sightings within 60 s are one event; the gate's is its own");
    assert.equal(today.currentlyIn, true);
    const whoIsIn = await service.client(org.tokens.operator).listWhoIsIn({});
    assert.ok(whoIsIn.users.some((u) => u.userId === user));
  });

  it("applies the organisation's minimum confidence and debounce window", async () => {
    const user = strict.users.member;
    await publishRecognition(world, strict.id, { userId: user, deviceId: strict.devices.gate!, at: at(1), similarity: 0.7 });
    await publishRecognition(world, strict.id, { userId: user, deviceId: strict.devices.gate!, at: at(2), similarity: 0.9 });
    await publishRecognition(world, strict.id, { userId: user, deviceId: strict.devices.gate!, at: at(8), similarity: 0.95 }); // within 600 s
    const marker = await publishRecognition(world, strict.id, { userId: user, deviceId: strict.devices.gate!, at: at(13), similarity: 0.95 });
    const today = await eventually(async () => {
      const t = await todayOf(strict, user);
      return t.events.some((e) => e.eventId === marker) ? t : undefined;
    }, "the marker event");
    assert.equal(today.events.length, 2);
    assert.deepEqual(today.events.map((e) => e.confidence), [90, 95]);
  });

  it("never counts a redelivered recognition twice", async () => {
    const user = org.users.operator;
    const before = await logCount(org, user);
    const eventId = randomUUID();
    for (let i = 0; i < 3; i++) {
      // A different message id each time, so JetStream's own deduplication does not hide it.
      await publishRecognition(world, org.id, { eventId, userId: user, deviceId: org.devices.gate!, at: at(80) }, randomUUID());
    }
    const today = await waitEvents(org, user, before + 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await logCount(org, user), before + 1);
    assert.equal(today.events.filter((e) => e.eventId === eventId).length, 1);
  });

  it("rebuilds today's state from the logs when the cache has lost it", async () => {
    const user = org.users.member;
    const expected = await todayOf(org, user);
    assert.equal(await world.cache.cache.del(todayKey(org.id, user)), 1);
    const asked = Date.now();
    const rebuilt = await todayOf(org, user);
    assert.deepEqual(rebuilt.events.map((e) => e.eventId), expected.events.map((e) => e.eventId));
    assert.equal(rebuilt.totalMinutes, expected.totalMinutes);
    assert.ok(await world.cache.cache.exists(todayKey(org.id, user)), "the rebuilt state is cached again");
    const ttl = await world.cache.cache.pttl(todayKey(org.id, user));
    const read = Date.now();
    const midnight = nextMidnight(new Date(asked), zone).getTime();
    assert.ok(ttl >= midnight - read, `TTL ${ttl} ms lasts until the organisation's next local midnight (${midnight - read} ms away)`);
    assert.ok(ttl <= midnight + TODAY_GRACE_MS - asked, `TTL ${ttl} ms ends at most ${TODAY_GRACE_MS} ms after that midnight`);
  });

  it("loses nothing and counts nothing twice when the service stops mid-stream and starts again", async () => {
    const tenant = await createTenant(world, daytimeZone(), { gate: DeviceDirection.IN });
    const users = [tenant.users.operator, tenant.users.member, tenant.users.other];
    const published: string[] = [];
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        published.push(await publishRecognition(world, tenant.id, { userId: users[i % 3]!, deviceId: tenant.devices.gate!, at: new Date(base + i * 2 * MIN) }));
      }
    };
    await publish(0, 30);
    await eventually(async () => ((await logCount(tenant, users[0]!)) > 0 ? true : undefined), "the first events");
    await service.stop();
    await publish(30, 60);
    service = await world.start();
    await publish(60, 90);
    const total = await eventually(async () => {
      let n = 0;
      for (const u of users) n += await logCount(tenant, u);
      return n >= 90 ? n : undefined;
      // Messages a stopped consumer had pulled but not handled come back after the ack wait (30 s).
    }, "all 90 events stored", 75_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    let after = 0;
    for (const u of users) after += await logCount(tenant, u);
    assert.equal(total, 90);
    assert.equal(after, 90);
    const ids = await world.database.db.withTenant(tenant.id, (tx) => new Sql(world.database.db.sequelize).rows<{ event_id: string }>(tx, "SELECT event_id FROM attendance.attendance_logs"));
    assert.deepEqual(new Set(ids.map((r) => r.event_id)), new Set(published));
  });

  it("removes a deleted organisation's logs, records and cached days when identity announces ORGANIZATION_DELETED", async () => {
    const [doomed, keeper] = [await createTenant(world, daytimeZone(), { gate: DeviceDirection.IN }), await createTenant(world, daytimeZone(), { gate: DeviceDirection.IN })];
    const user = doomed.users.member;
    await publishRecognition(world, doomed.id, { userId: user, deviceId: doomed.devices.gate!, at: at(2) });
    await publishRecognition(world, keeper.id, { userId: keeper.users.member, deviceId: keeper.devices.gate!, at: at(2) });
    await waitEvents(doomed, user, 1);
    await waitEvents(keeper, keeper.users.member, 1);

    await new EventPublisher(world.bus.bus, createLogger("silent")).publish({
      eventId: `organization-deleted-${doomed.id}`, organizationId: doomed.id, type: ORGANIZATION_DELETED, severity: Severity.INFO, referenceId: doomed.id,
    });
    await eventually(async () => ((await logCount(doomed, user)) === 0 ? true : undefined), "the organisation's logs to be deleted");
    assert.equal(await world.cache.cache.get(todayKey(doomed.id, user)), null, "today's cached state is gone");
    assert.equal(await logCount(keeper, keeper.users.member), 1, "other organisations keep theirs");
  });
});
