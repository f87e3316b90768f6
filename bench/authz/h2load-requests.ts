/**
 * What h2load repeats in the authz gRPC benchmark: one Check and one BatchCheck, encoded once,
 * each with a check of the answer against the same policy compiled here, in this process.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AuthzService, BatchCheckRequestSchema, BatchCheckResponseSchema, CheckRequestSchema, CheckResponseSchema,
} from "../../gen/rollcall/authz/v1/authz_pb.js";
import { CompiledPolicy, type Decision, type PolicyRows } from "../../services/authz/policy/compiled-policy.js";
import { methodPath } from "../../services/runtime/grpc/codec.js";
import type { GrpcRequest } from "./h2load.js";
import { benchBatch, type BenchQuery } from "./policy.js";

export interface RepeatedCall {
  request: Omit<GrpcRequest, "target">;
  /** Throws unless the encoded answer is the expected one. */
  expect(response: Uint8Array): void;
  /** For the report: what is asked. */
  describe: string;
}

type Decide = (q: { organizationId: string; subjectId: string; resource: string; action: string; ownerId?: string | undefined }) => Decision;

function decider(policy: readonly PolicyRows[]): Decide {
  const compiled = new Map(policy.map((rows) => [rows.organizationId, new CompiledPolicy(rows)]));
  return (q) => compiled.get(q.organizationId)!.check(q.subjectId, q.resource, q.action, q.ownerId);
}

function same(what: string, got: Pick<Decision, "allowed" | "reason" | "decidedByRole" | "scope">, want: Decision): void {
  if (got.allowed !== want.allowed || got.reason !== want.reason || got.decidedByRole !== want.decidedByRole || got.scope !== want.scope) {
    throw new Error(`${what}: the server answered ${JSON.stringify({ ...got, $typeName: undefined })}, the policy says ${JSON.stringify(want)}`);
  }
}

/**
 * A Check by a member of the organisation about someone else's object that one of its roles
 * allows: the whole path (subject's roles, slot, owner rule) on every call.
 */
export function repeatedCheck(policy: readonly PolicyRows[], queries: readonly BenchQuery[], token: string): RepeatedCall {
  const decide = decider(policy);
  const members = new Set(policy.flatMap((org) => org.subjects.map((s) => s.subjectId)));
  const query = queries.find((q) => members.has(q.subjectId) && q.ownerId !== undefined && q.ownerId !== q.subjectId && decide(q).allowed);
  if (!query) throw new Error("no query of the kind h2load repeats");
  const want = decide(query);
  return {
    request: { path: methodPath(AuthzService.method.check), bearer: token, message: toBinary(CheckRequestSchema, create(CheckRequestSchema, query)) },
    expect: (bytes) => same("Check", fromBinary(CheckResponseSchema, bytes), want),
    describe: `one Check repeated (${query.resource}.${query.action} on another's object, allowed by ${want.decidedByRole})`,
  };
}

/** The first BatchCheck the grpc-js load generator sends, every item's answer checked. */
export function repeatedBatch(policy: readonly PolicyRows[], queries: readonly BenchQuery[], token: string): RepeatedCall {
  const decide = decider(policy);
  const batch = benchBatch(queries, 0);
  const want = batch.items.map((item) => decide({ ...item, subjectId: batch.subjectId, organizationId: batch.organizationId }));
  return {
    request: { path: methodPath(AuthzService.method.batchCheck), bearer: token, message: toBinary(BatchCheckRequestSchema, create(BatchCheckRequestSchema, batch)) },
    expect: (bytes) => {
      const { results } = fromBinary(BatchCheckResponseSchema, bytes);
      if (results.length !== want.length) throw new Error(`BatchCheck: ${results.length} results for ${want.length} items`);
      results.forEach((r, i) => same(`BatchCheck item ${i}`, r, want[i]!));
    },
    describe: "one BatchCheck of 1,000 items repeated",
  };
}

/** The bare floor server answers every Check alike. */
export function floorCheck(check: RepeatedCall): RepeatedCall {
  return {
    ...check,
    expect: (bytes) => {
      const answer = fromBinary(CheckResponseSchema, bytes);
      if (!answer.allowed || answer.reason !== "floor") throw new Error(`floor: unexpected answer ${answer.reason}`);
    },
  };
}
