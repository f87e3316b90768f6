import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { HeartbeatSchema } from "../../gen/rollcall/audit/v1/bus_pb.js";
import { HealthStatus, LogLevel, Severity } from "../../gen/rollcall/audit/v1/types_pb.js";
import { EventStore } from "../../services/audit/events/event-store.js";
import { DownDetector } from "../../services/audit/monitoring/health.js";
import { subjects } from "../../services/runtime/bus/bus.js";
import { Signal } from "../../services/runtime/bus/consumer-loop.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { Sql } from "../../services/runtime/db/index.js";
import type { AppError } from "../../services/runtime/errors.js";
import { EventPublisher } from "../../services/runtime/event-publisher.js";
import { createLogger } from "../../services/runtime/logger.js";
import { forwardingLogger, LogForwarder } from "../../services/runtime/log-forwarder.js";
import { auditMesh, eventually, type AuditMesh } from "./fixture.js";

const code = (expected: status, field?: string) => (err: unknown) => {
  const e = err as AppError;
  assert.equal(e.code, expected, `expected ${status[expected]}, got ${status[e.code]}: ${e.message}`);
  if (field) assert.ok(e.message.startsWith(`${field}:`), e.message);
  return true;
};

describe("audit: system logs, health, events", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;

  before(async () => {
    mesh = await auditMesh();
  });

  it("stores services' forwarded warn/error lines as system logs, rate-limited", async () => {
    const plain = createLogger("silent");
    const logger = forwardingLogger(plain, new LogForwarder(mesh.host.bus, { instance: "test/1", fallbackService: "host", ratePerSec: 1, burst: 5 }, plain)).child({ service: "forwardtest" });
    logger.info("not forwarded: below warn");
    logger.warn({ device: "d1" }, "camera feed slow");
    logger.error({ err: new Error("disk full") }, "could not save");
    for (let i = 0; i < 200; i++) logger.warn(`storm ${i}`);
    const list = (req: object = {}) => mesh.audit.listSystemLogs({ service: "forwardtest", ...req }, { bearer: mesh.staff });
    const logs = await eventually(async () => ((await list()).logs.length >= 5 ? (await list()).logs : undefined), "5 forwarded lines");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok((await list()).logs.length <= 6, "the storm was cut by the rate limit");
    assert.ok(logs.some((l) => l.message === "camera feed slow" && l.level === LogLevel.WARN && l.metadata?.device === "d1"));
    assert.deepEqual((await list({ level: LogLevel.ERROR })).logs.map((l) => l.message), ["could not save"]);
    assert.equal((await list({ query: "CAMERA" })).logs.length, 1);
    assert.ok(!(await list()).logs.some((l) => l.message.startsWith("not forwarded")));
    await assert.rejects(mesh.audit.listSystemLogs({}, { bearer: mesh.orgs[0].admin.token }), code(status.PERMISSION_DENIED));
    await assert.rejects(list({ query: "x".repeat(201) }), code(status.INVALID_ARGUMENT, "query"));
  });

  it("shows the fleet from heartbeats and raises DEVICE_DOWN once when one stops", async () => {
    const health = async () => (await mesh.audit.listHealth({}, { bearer: mesh.staff })).components;
    await eventually(async () => {
      const components = await health();
      return ["audit", "authz"].every((c) => components.some((h) => h.component === c && h.status === HealthStatus.UP));
    }, "the host's own heartbeats");
    const org = mesh.orgs[0];
    const device = randomUUID();
    await mesh.host.bus.ensureStream(STREAMS.health);
    const beat = create(HeartbeatSchema, {
      component: `device:${device}`, instance: device, status: HealthStatus.UP, cpuUsage: 12.5, memoryUsage: 1024n,
      metadata: { fps: 9.5, spoolSize: 3, organization_id: org.id }, sentAt: timestampFromDate(new Date()),
    });
    await mesh.host.bus.publish(subjects.health(`device:${device}`), toBinary(HeartbeatSchema, beat));
    const seen = await eventually(async () => (await health()).find((h) => h.component === `device:${device}`), "the device's heartbeat");
    assert.equal(seen.metadata?.fps, 9.5);
    // A second replica's detector racing the mesh's own: the event is still raised once.
    const sql = new Sql(mesh.host.db.sequelize);
    const replica = new DownDetector({ db: mesh.host.db, sql, events: new EventStore(sql), bus: mesh.host.bus, logger: createLogger("silent"), stored: new Signal() }, mesh.heartbeatMs * 3);
    const events = await eventually(async () => {
      await replica.check();
      const { events: list } = await mesh.audit.listEvents({ type: "DEVICE_DOWN" }, { bearer: org.admin.token });
      return list.length > 0 ? list : undefined;
    }, "DEVICE_DOWN");
    await Promise.all([replica.check(), replica.check()]);
    await new Promise((resolve) => setTimeout(resolve, mesh.heartbeatMs * 2));
    assert.equal((await mesh.audit.listEvents({ type: "DEVICE_DOWN" }, { bearer: org.admin.token })).events.length, 1);
    assert.equal(events[0]!.referenceId, device);
    assert.equal(events[0]!.severity, Severity.ERROR);
    assert.equal((await health()).find((h) => h.component === `device:${device}`)!.status, HealthStatus.DOWN);
    assert.equal((await mesh.audit.listEvents({ type: "DEVICE_DOWN" }, { bearer: mesh.orgs[1].admin.token })).events.length, 0);
  });

  it("marks a service that stops sending heartbeats DOWN and raises SERVICE_DOWN once", async () => {
    const component = `svc${randomUUID().slice(0, 8)}`;
    const instance = `${component}-pod-1`;
    await mesh.host.bus.ensureStream(STREAMS.health);
    const beat = create(HeartbeatSchema, { component, instance, status: HealthStatus.UP, cpuUsage: 3, memoryUsage: 2048n, sentAt: timestampFromDate(new Date()) });
    await mesh.host.bus.publish(subjects.health(component), toBinary(HeartbeatSchema, beat));
    const health = async () => (await mesh.audit.listHealth({ component }, { bearer: mesh.staff })).components;
    const up = await eventually(async () => (await health())[0], "the service's heartbeat");
    assert.deepEqual([up.instance, up.status], [instance, HealthStatus.UP]);
    // Platform events (no organisation) are read here through the system role.
    const raised = () =>
      mesh.host.db.withSystem((tx) =>
        mesh.host.db.sequelize.query(`SELECT organization_id, severity, reference_id, metadata FROM audit.events WHERE event_type = 'SERVICE_DOWN' AND reference_id = $1`, { bind: [component], transaction: tx, type: "SELECT" as never }),
      ) as unknown as Promise<{ organization_id: string | null; severity: string; reference_id: string; metadata: { instance: string } }[]>;
    const sql = new Sql(mesh.host.db.sequelize);
    const replica = new DownDetector({ db: mesh.host.db, sql, events: new EventStore(sql), bus: mesh.host.bus, logger: createLogger("silent"), stored: new Signal() }, mesh.heartbeatMs * 3);
    const events = await eventually(async () => {
      await replica.check();
      const rows = await raised();
      return rows.length > 0 ? rows : undefined;
    }, "SERVICE_DOWN");
    await Promise.all([replica.check(), replica.check()]);
    await new Promise((resolve) => setTimeout(resolve, mesh.heartbeatMs * 2));
    assert.equal((await raised()).length, 1);
    assert.deepEqual([events[0]!.organization_id, events[0]!.severity, events[0]!.metadata.instance], [null, "ERROR", instance]);
    assert.equal((await health())[0]!.status, HealthStatus.DOWN);
    const history = await mesh.superSql<{ status: string; reason: string }>(`SELECT status, metadata->>'reason' AS reason FROM audit.system_health WHERE component = $1 ORDER BY id`, [component]);
    assert.deepEqual(history.map((h) => h.status), ["UP", "DOWN"]);
    assert.equal(history[1]!.reason, "heartbeat overdue");
    // Not an organisation's event: no tenant sees it.
    for (const org of mesh.orgs) assert.equal((await mesh.audit.listEvents({ type: "SERVICE_DOWN" }, { bearer: org.admin.token })).events.filter((e) => e.referenceId === component).length, 0);
  });

  it("stores events from the bus, acknowledges and resolves them with who and when", async () => {
    const [a, b] = mesh.orgs;
    const publisher = new EventPublisher(mesh.host.bus, createLogger("silent"));
    const eventId = randomUUID();
    await publisher.publish({ organizationId: a.id, type: "UNKNOWN_FACE", severity: Severity.WARNING, referenceId: "rec-1", metadata: { camera: "door" }, eventId });
    await publisher.publish({ organizationId: a.id, type: "TOKEN_REUSE", severity: Severity.CRITICAL, referenceId: "sess-1" });
    const list = (req: object = {}, token = a.admin.token) => mesh.audit.listEvents(req, { bearer: token });
    await eventually(async () => (await list({ type: "TOKEN_REUSE" })).events.length === 1, "events stored");
    assert.deepEqual((await list({ minSeverity: Severity.CRITICAL })).events.map((e) => e.type), ["TOKEN_REUSE"]);
    assert.equal((await list({ acknowledged: false, type: "UNKNOWN_FACE" })).events.length, 1);
    const acked = await mesh.audit.acknowledgeEvent({ eventId }, { bearer: a.admin.token });
    assert.equal(acked.event!.acknowledgedBy, a.admin.id);
    assert.ok(acked.event!.acknowledgedAt);
    const resolved = await mesh.audit.resolveEvent({ eventId, resolution: "a visitor" }, { bearer: a.admin.token });
    assert.deepEqual([resolved.event!.resolvedBy, resolved.event!.resolution, resolved.event!.acknowledgedAt], [a.admin.id, "a visitor", acked.event!.acknowledgedAt]);
    assert.equal((await list({ acknowledged: true })).events.length, 1);
    await assert.rejects(mesh.audit.acknowledgeEvent({ eventId }, { bearer: b.admin.token }), code(status.NOT_FOUND));
    await assert.rejects(mesh.audit.acknowledgeEvent({ eventId }, { bearer: a.member.token }), code(status.PERMISSION_DENIED));
    await assert.rejects(mesh.audit.acknowledgeEvent({ eventId: "x" }, { bearer: a.admin.token }), code(status.INVALID_ARGUMENT, "event_id"));
    await assert.rejects(mesh.audit.resolveEvent({ eventId, resolution: "x".repeat(1001) }, { bearer: a.admin.token }), code(status.INVALID_ARGUMENT, "resolution"));
    await assert.rejects(list({ type: "lower" }), code(status.INVALID_ARGUMENT, "type"));
    await assert.rejects(list({ organizationId: b.id }), code(status.PERMISSION_DENIED));
    assert.equal((await list({}, b.admin.token)).events.filter((e) => e.type === "TOKEN_REUSE").length, 0);
  });
});
