import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../services/runtime/config.js";
import { loadAttendanceConfig } from "../../services/attendance/config.js";
import { loadAuditSettings } from "../../services/audit/config.js";
import { loadVisionConfig } from "../../services/vision/config.js";

describe("config", () => {
  it("has working defaults for the all-in-one mode", () => {
    const config = loadConfig({});
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.grpcPort, 50051);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.addresses.authz, "127.0.0.1:50051");
    assert.equal(config.busNamespace, "rollcall");
  });

  it("reads every variable", () => {
    const config = loadConfig({
      ROLLCALL_GRPC_PORT: "6000",
      DATABASE_URL: "postgres://app@db:5432/rollcall",
      REDIS_URL: "redis://cache:6379",
      NATS_URL: "nats://bus:4222",
      ROLLCALL_AUTHZ_ADDR: "dns:///authz.rollcall.svc:50051",
      LOG_LEVEL: "debug",
    });
    assert.equal(config.grpcPort, 6000);
    assert.equal(config.addresses.authz, "dns:///authz.rollcall.svc:50051");
    assert.equal(config.addresses.identity, "127.0.0.1:6000");
    assert.equal(config.redisUrl, "redis://cache:6379");
    assert.equal(config.logLevel, "debug");
  });

  it("reports every bad value at once, naming the variable and what is allowed", () => {
    let error: unknown;
    try {
      loadConfig({
        ROLLCALL_GRPC_PORT: "70000",
        DATABASE_URL: "mysql://db/x",
        REDIS_URL: "not a url",
        LOG_LEVEL: "loud",
        ROLLCALL_SHUTDOWN_GRACE_MS: "1.5",
        ROLLCALL_BUS_NAMESPACE: "Bad-Name",
        ROLLCALL_VISION_ADDR: "vision",
      });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const text = error.problems.join("\n");
    assert.equal(error.problems.length, 7, text);
    assert.match(text, /ROLLCALL_GRPC_PORT="70000" must be a whole number from 0 to 65535/);
    assert.match(text, /DATABASE_URL must use postgres: or postgresql: \(got mysql:\)/);
    assert.match(text, /REDIS_URL is not a valid URL/);
    assert.match(text, /LOG_LEVEL=loud must be one of/);
    assert.match(text, /ROLLCALL_SHUTDOWN_GRACE_MS/);
    assert.match(text, /ROLLCALL_BUS_NAMESPACE=Bad-Name/);
    assert.match(text, /ROLLCALL_VISION_ADDR=vision must be host:port/);
  });

  it("treats blank values as unset", () => {
    assert.equal(loadConfig({ DATABASE_URL: "  ", ROLLCALL_GRPC_PORT: "" }).databaseUrl, undefined);
  });

  it("reads each service's own settings the same way: every bad one named at once", () => {
    const problems = (load: () => unknown) => {
      try {
        load();
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems;
      }
      return assert.fail("expected a ConfigError");
    };
    assert.deepEqual(problems(() => loadVisionConfig({ ROLLCALL_VISION_THREADS: "x", ROLLCALL_VISION_MATCH_THRESHOLD: "2" })), [
      'ROLLCALL_VISION_THREADS="x" must be a whole number from 1 to 64',
      'ROLLCALL_VISION_MATCH_THRESHOLD="2" must be a number from -1 to 1',
    ]);
    assert.deepEqual(problems(() => loadAttendanceConfig({ ROLLCALL_ATTENDANCE_INGEST_BATCH: "1.5", ROLLCALL_ATTENDANCE_MIN_CONFIDENCE: "101" })), [
      'ROLLCALL_ATTENDANCE_MIN_CONFIDENCE="101" must be a number from 0 to 100',
      'ROLLCALL_ATTENDANCE_INGEST_BATCH="1.5" must be a whole number from 1 to 1000',
    ]);
    assert.deepEqual(problems(() => loadAuditSettings({ ROLLCALL_AUDIT_BATCH_SIZE: "0" })), ['ROLLCALL_AUDIT_BATCH_SIZE="0" must be a whole number from 1 to 20000']);
    assert.equal(loadAttendanceConfig({ ROLLCALL_ATTENDANCE_MIN_CONFIDENCE: "50.5" }).minConfidence, 50.5);
  });
});
