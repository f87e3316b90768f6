import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../services/runtime/config.js";

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
});
