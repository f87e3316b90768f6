import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { NotificationChannel, NotificationStatus, Severity } from "../../gen/rollcall/audit/v1/types_pb.js";
import { webhookSignature } from "../../services/audit/notifications/deliver.js";
import type { AppError } from "../../services/runtime/errors.js";
import { EventPublisher } from "../../services/runtime/event-publisher.js";
import { createLogger } from "../../services/runtime/logger.js";
import { auditMesh, eventually, type AuditMesh } from "./fixture.js";

const code = (expected: status, field?: string) => (err: unknown) => {
  const e = err as AppError;
  assert.equal(e.code, expected, `expected ${status[expected]}, got ${status[e.code]}: ${e.message}`);
  if (field) assert.ok(e.message.startsWith(`${field}:`), e.message);
  return true;
};

interface Hook { body: string; headers: IncomingMessage["headers"] }

/** A local webhook receiver answering 500 to the first `failures` requests. */
async function startReceiver(failures: number, port = 0) {
  const received: Hook[] = [];
  let calls = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      calls++;
      if (calls <= failures) return void res.writeHead(500).end("not yet");
      received.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, port: (server.address() as AddressInfo).port, received, calls: () => calls,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe("audit: notifications", function () {
  this.timeout(60_000);
  let mesh: AuditMesh;
  let publisher: EventPublisher;

  before(async () => {
    mesh = await auditMesh();
    publisher = new EventPublisher(mesh.host.bus, createLogger("silent"));
  });

  const rule = (token: string, req: object) => mesh.audit.createNotificationRule({ enabled: true, ...req }, { bearer: token });
  const notifications = async (token: string, eventId: string) => (await mesh.audit.listNotifications({ eventId }, { bearer: token })).notifications;

  it("validates rules and keeps them per organisation", async () => {
    const [a, b] = mesh.orgs;
    await assert.rejects(rule(a.admin.token, { eventType: "bad type", channel: NotificationChannel.EMAIL, target: "x@y.z" }), code(status.INVALID_ARGUMENT, "event_type"));
    await assert.rejects(rule(a.admin.token, { eventType: "*", channel: NotificationChannel.UNSPECIFIED }), code(status.INVALID_ARGUMENT, "channel"));
    await assert.rejects(rule(a.admin.token, { eventType: "*", channel: NotificationChannel.EMAIL, target: "not-mail" }), code(status.INVALID_ARGUMENT, "target"));
    await assert.rejects(rule(a.admin.token, { eventType: "*", channel: NotificationChannel.WEBHOOK, target: "http://example.com/x" }), code(status.INVALID_ARGUMENT, "target"));
    await assert.rejects(rule(a.member.token, { eventType: "*", channel: NotificationChannel.DASHBOARD }), code(status.PERMISSION_DENIED));
    await assert.rejects(rule(a.admin.token, { organizationId: b.id, eventType: "*", channel: NotificationChannel.DASHBOARD }), code(status.PERMISSION_DENIED));
    const created = await rule(a.admin.token, { eventType: "LOGIN_LOCKOUT", channel: NotificationChannel.DASHBOARD, enabled: false });
    assert.equal((await mesh.audit.listNotificationRules({}, { bearer: a.admin.token })).rules.length, 1);
    assert.equal((await mesh.audit.listNotificationRules({}, { bearer: b.admin.token })).rules.length, 0);
    await mesh.audit.deleteNotificationRule({ ruleId: created.rule!.id }, { bearer: b.admin.token });
    assert.equal((await mesh.audit.listNotificationRules({}, { bearer: a.admin.token })).rules.length, 1, "another organisation cannot delete it");
    await mesh.audit.deleteNotificationRule({ ruleId: created.rule!.id }, { bearer: a.admin.token });
    await mesh.audit.deleteNotificationRule({ ruleId: created.rule!.id }, { bearer: a.admin.token });
    await assert.rejects(mesh.audit.deleteNotificationRule({ ruleId: "nope" }, { bearer: a.admin.token }), code(status.INVALID_ARGUMENT, "rule_id"));
    assert.equal((await mesh.audit.listNotificationRules({}, { bearer: a.admin.token })).rules.length, 0);
  });

  it("delivers by signed webhook (retried with backoff) and by email, and records each delivery", async () => {
    const org = mesh.orgs[0];
    const receiver = await startReceiver(2);
    const hook = await rule(org.admin.token, { eventType: "UNKNOWN_FACE", channel: NotificationChannel.WEBHOOK, target: receiver.url });
    assert.ok(hook.rule!.signingSecret.length >= 40);
    assert.equal((await mesh.audit.listNotificationRules({}, { bearer: org.admin.token })).rules[0]!.signingSecret, "", "the secret is shown once");
    await rule(org.admin.token, { eventType: "*", channel: NotificationChannel.EMAIL, target: "ops@example.com" });
    const eventId = randomUUID();
    await publisher.publish({ organizationId: org.id, type: "UNKNOWN_FACE", severity: Severity.WARNING, referenceId: "rec-9", eventId });
    const sent = await eventually(async () => {
      const list = await notifications(org.admin.token, eventId);
      return list.length === 2 && list.every((n) => n.status === NotificationStatus.SENT) ? list : undefined;
    }, "both notifications SENT");
    const webhook = sent.find((n) => n.channel === NotificationChannel.WEBHOOK)!;
    assert.equal(webhook.attempts, 3);
    assert.equal(webhook.lastError, "");
    assert.equal(receiver.received.length, 1);
    const [{ body, headers }] = receiver.received as [Hook];
    assert.equal(JSON.parse(body).id, eventId);
    assert.equal(headers["x-rollcall-signature"], webhookSignature(hook.rule!.signingSecret, String(headers["x-rollcall-timestamp"]), body));
    assert.ok(Math.abs(Number(headers["x-rollcall-timestamp"]) - Date.now() / 1000) < 60);
    assert.ok(mesh.mails.some((m) => m.includes("UNKNOWN_FACE") && m.includes("ops@example.com")));
    await receiver.close();
  });

  it("marks a delivery FAILED after the last attempt, with the error", async () => {
    const org = mesh.orgs[1];
    const receiver = await startReceiver(1_000);
    await rule(org.admin.token, { eventType: "DEVICE_DOWN", channel: NotificationChannel.WEBHOOK, target: receiver.url });
    const eventId = randomUUID();
    await publisher.publish({ organizationId: org.id, type: "DEVICE_DOWN", severity: Severity.ERROR, eventId });
    const [failed] = await eventually(async () => {
      const list = await notifications(org.admin.token, eventId);
      return list[0]?.status === NotificationStatus.FAILED ? list : undefined;
    }, "FAILED");
    assert.equal(failed!.attempts, 4);
    assert.match(failed!.lastError, /HTTP 500/);
    assert.equal((await mesh.audit.listNotifications({ status: NotificationStatus.FAILED }, { bearer: org.admin.token })).notifications.length, 1);
    await assert.rejects(mesh.audit.listNotifications({ eventId: "x" }, { bearer: org.admin.token }), code(status.INVALID_ARGUMENT, "event_id"));
    await receiver.close();
  });

  it("streams events to the dashboard, resumable from a cursor", async () => {
    const org = mesh.orgs[0];
    const controller = new AbortController();
    const stream = mesh.audit.subscribeNotifications({ minSeverity: Severity.ERROR }, { bearer: org.admin.token, signal: controller.signal })[Symbol.asyncIterator]();
    const first = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await publisher.publish({ organizationId: org.id, type: "LOW_CONFIDENCE", severity: Severity.INFO });
    for (const eventId of ids) await publisher.publish({ organizationId: org.id, type: "TOKEN_REUSE", severity: Severity.CRITICAL, eventId });
    const one = (await first).value!;
    assert.equal(one.event!.id, ids[0]);
    controller.abort();
    const resumed = mesh.audit.subscribeNotifications({ cursor: one.cursor }, { bearer: org.admin.token })[Symbol.asyncIterator]();
    assert.equal((await resumed.next()).value!.event!.id, ids[1]);
    assert.equal((await resumed.next()).value!.event!.id, ids[2]);
    await resumed.return?.();
    await assert.rejects(mesh.audit.subscribeNotifications({ cursor: "garbage" }, { bearer: org.admin.token })[Symbol.asyncIterator]().next(), code(status.INVALID_ARGUMENT, "cursor"));
    const expired = Buffer.from(JSON.stringify({ s: "1", t: Date.now() - 30 * 86_400_000 })).toString("base64url");
    await assert.rejects(mesh.audit.subscribeNotifications({ cursor: expired }, { bearer: org.admin.token })[Symbol.asyncIterator]().next(), code(status.OUT_OF_RANGE));
  });

  it("keeps pending deliveries across a restart", async () => {
    const org = mesh.orgs[1];
    const down = await startReceiver(0);
    const port = down.port;
    await down.close();
    await rule(org.admin.token, { eventType: "LOGIN_LOCKOUT", channel: NotificationChannel.WEBHOOK, target: `http://127.0.0.1:${port}/hook` });
    await mesh.superSql(`UPDATE audit.notification_rules SET enabled = false WHERE event_type = 'DEVICE_DOWN'`);
    const eventId = randomUUID();
    await publisher.publish({ organizationId: org.id, type: "LOGIN_LOCKOUT", severity: Severity.WARNING, eventId });
    await eventually(async () => (await notifications(org.admin.token, eventId))[0]?.lastError.includes("failed"), "a failed attempt");
    // Nothing is attempted while the process restarts; the row stays PENDING in the database.
    await mesh.superSql(`UPDATE audit.notifications SET next_attempt_at = now() + interval '1 second' WHERE event_id = $1 AND status = 'PENDING'`, [eventId]);
    assert.equal((await notifications(org.admin.token, eventId))[0]!.status, NotificationStatus.PENDING);
    await mesh.restart();
    const receiver = await startReceiver(0, port);
    const [sent] = await eventually(async () => {
      const list = await notifications(org.admin.token, eventId);
      return list[0]?.status === NotificationStatus.SENT ? list : undefined;
    }, "SENT after the restart");
    assert.ok(sent!.attempts >= 2);
    assert.equal(JSON.parse(receiver.received[0]!.body).id, eventId);
    await receiver.close();
  });
});
