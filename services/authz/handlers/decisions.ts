import { create } from "@bufbuild/protobuf";
import { AuthzService, CheckResponseSchema, Scope, type CheckResponse } from "../../../gen/rollcall/authz/v1/authz_pb.js";
import { AppError, invalidArgument, permissionDenied } from "../../runtime/errors.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { uuid } from "../../runtime/validate.js";
import { callerOf, isPlatform } from "../../runtime/authz/callers.js";
import type { Caller } from "../../runtime/auth/caller.js";
import type { CompiledPolicy, Decision } from "../policy/compiled-policy.js";
import { atLeastRevision, checkedName } from "../validate.js";
import type { Authz } from "../context.js";

export const MAX_BATCH_ITEMS = 1000;

/** Who is asked about, in which compiled policy. */
interface Subject {
  policy: CompiledPolicy;
  id: string;
  /** The platform caller asking about itself: allowed everything, with no role. */
  platform: boolean;
}

/** AuthzService: decisions from the compiled policy; no database round trip once it is loaded. */
export function decisionHandlers(authz: Authz): ServiceImpl<typeof AuthzService> {
  /**
   * Tenants ask within their own organisation, about themselves, or about anyone with
   * roles:read there; platform callers ask about anyone anywhere. Synchronous when the
   * organisation's policy is loaded and fresh (nearly always): a Check then awaits nothing.
   */
  const subjectOf = (ctx: CallContext, req: { subjectId: string; organizationId: string; atLeastRevision?: bigint }): Subject | Promise<Subject> => {
    const caller = callerOf(ctx);
    const organizationId = uuid("organization_id", req.organizationId);
    const platform = isPlatform(caller);
    const asPlatform = platform && req.subjectId === caller.subject;
    const id = asPlatform ? req.subjectId : uuid("subject_id", req.subjectId);
    if (!platform && caller.organizationId !== organizationId) {
      throw permissionDenied(`your token is for organisation ${caller.organizationId}; you cannot ask about organisation ${organizationId}`);
    }
    const atLeast = atLeastRevision("at_least_revision", req.atLeastRevision);
    const loaded = authz.cache.fresh(organizationId, atLeast);
    // No closure on the common path: a Check allocates as little as it can (see the gRPC benchmark).
    if (loaded !== undefined) return subjectIn(loaded, caller, id, platform, asPlatform);
    return authz.cache.policy(organizationId, atLeast).then((policy) => subjectIn(policy, caller, id, platform, asPlatform));
  };

  const decide = (subject: Subject, resource: string, action: string, ownerId: string | undefined): Decision => {
    const slot = subject.policy.slotOf(checkedName("resource", resource), checkedName("action", action));
    if (subject.platform) return subject.policy.decideAsPlatform(slot);
    return subject.policy.decide(subject.id, slot, ownerId === undefined ? undefined : uuid("owner_id", ownerId));
  };

  return {
    async check(req, ctx) {
      const found = subjectOf(ctx, req);
      const subject = found instanceof Promise ? await found : found;
      return checkResponse(decide(subject, req.resource, req.action, req.ownerId), subject.policy.revision);
    },

    async batchCheck(req, ctx) {
      if (req.items.length === 0) throw invalidArgument("items", `send 1–${MAX_BATCH_ITEMS} items`);
      if (req.items.length > MAX_BATCH_ITEMS) {
        throw invalidArgument("items", `${req.items.length} items is more than ${MAX_BATCH_ITEMS}; split the batch`);
      }
      const subject = await subjectOf(ctx, req);
      const results = req.items.map((item, i) => {
        try {
          return decide(subject, item.resource, item.action, item.ownerId);
        } catch (err) {
          throw err instanceof AppError ? inItem(err, i) : err;
        }
      });
      return { results, revision: subject.policy.revision };
    },

    async resolveScope(req, ctx) {
      const subject = await subjectOf(ctx, req);
      const d = decide(subject, req.resource, req.action, undefined);
      return { scope: d.allowed ? d.scope : Scope.NONE, decidedByRole: d.decidedByRole, revision: subject.policy.revision };
    },

    async listEffectivePermissions(req, ctx) {
      const subject = await subjectOf(ctx, req);
      const permissions = subject.platform ? subject.policy.allPermissions() : subject.policy.effectivePermissions(subject.id);
      return { permissions, revision: subject.policy.revision };
    },
  };
}

/** The subject asked about in `policy`, once the caller may ask about it. */
function subjectIn(policy: CompiledPolicy, caller: Caller, id: string, platform: boolean, asPlatform: boolean): Subject {
  if (!platform && id !== caller.subject) {
    const mayRead = policy.check(caller.subject, "roles", "read");
    if (!mayRead.allowed) throw permissionDenied(`you may ask only about yourself; asking about others needs roles.read (${mayRead.reason})`);
  }
  return { policy, id, platform: asPlatform };
}

/**
 * The answer to a Check, made once per decision and revision: decisions are prepared when a
 * policy is compiled, so a Check's answer is a message already built. Frozen, so that the codec
 * encodes it once too (see serializer).
 */
const answers = new WeakMap<Decision, CheckResponse>();

function checkResponse(d: Decision, revision: bigint): CheckResponse {
  let answer = answers.get(d);
  if (answer === undefined || answer.revision !== revision) {
    answer = Object.freeze(create(CheckResponseSchema, { allowed: d.allowed, reason: d.reason, decidedByRole: d.decidedByRole, scope: d.scope, revision }));
    answers.set(d, answer);
  }
  return answer;
}

/** An item's error as the batch reports it: "items[3].action: …". */
function inItem(err: AppError, index: number): AppError {
  const prefix = `items[${index}].`;
  return new AppError(err.code, prefix + err.message, err.details.field ? { ...err.details, field: prefix + err.details.field } : err.details);
}
