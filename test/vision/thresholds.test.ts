import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Metadata, status } from "@grpc/grpc-js";
import { AppError } from "../../services/runtime/errors.js";
import type { CallContext } from "../../services/runtime/grpc/context.js";
import { createLogger } from "../../services/runtime/logger.js";
import type { MeshClients } from "../../services/runtime/mesh-clients.js";
import { MARGIN_KEY, MATCH_KEY, OrganizationThresholds } from "../../services/vision/domain/thresholds.js";

const DEFAULTS = { match: 0.45, lowConfidenceMargin: 0.07 };

/** identity's ConfigService as vision sees it: one organisation overrides the match threshold. */
function configClients(overrides: Record<string, Record<string, unknown>>, calls: string[]): MeshClients {
  const getConfig = async ({ organizationId, key }: { organizationId: string; key: string }) => {
    calls.push(key);
    const value = overrides[organizationId]?.[key];
    if (value === undefined) throw new AppError(status.NOT_FOUND, `config ${key} was not found`);
    return { entry: { value: { kind: typeof value === "number" ? { case: "numberValue", value } : { case: "stringValue", value } } } };
  };
  return { get: () => ({ getConfig }) } as unknown as MeshClients;
}

const ctx = { metadata: new Metadata() } as CallContext;

describe("vision thresholds per organisation", () => {
  it("applies an organisation's override from identity's config and the default otherwise, cached", async () => {
    const [strict, plain, odd] = [randomUUID(), randomUUID(), randomUUID()];
    const calls: string[] = [];
    const source = new OrganizationThresholds(DEFAULTS, configClients({ [strict]: { [MATCH_KEY]: 0.6 }, [odd]: { [MARGIN_KEY]: "high" } }, calls), createLogger("silent"));
    assert.deepEqual(await source.forOrganization(strict, ctx), { match: 0.6, lowConfidenceMargin: 0.07 });
    assert.deepEqual(await source.forOrganization(plain, ctx), DEFAULTS);
    assert.deepEqual(await source.forOrganization(odd, ctx), DEFAULTS, "a value that is not a number is ignored");
    const before = calls.length;
    await source.forOrganization(strict, ctx);
    assert.equal(calls.length, before, "served from the cache");
  });

  it("uses the defaults without a caller to ask with (queued frames) or when identity is unreachable", async () => {
    const failing = { get: () => ({ getConfig: async () => { throw new AppError(status.UNAVAILABLE, "down"); } }) } as unknown as MeshClients;
    const source = new OrganizationThresholds(DEFAULTS, failing, createLogger("silent"));
    assert.deepEqual(await source.forOrganization(randomUUID()), DEFAULTS);
    assert.deepEqual(await source.forOrganization(randomUUID(), ctx), DEFAULTS);
  });
});
