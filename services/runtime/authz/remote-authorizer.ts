import { AuthzService, Scope } from "../../../gen/rollcall/authz/v1/authz_pb.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import type { CallContext } from "../grpc/context.js";
import type { MeshClients } from "../mesh-clients.js";
import type { Authorizer, ScopeName } from "./authorizer.js";

/**
 * Authorizer over the AuthzService Check RPC. Every decision is a call; the decision cache and
 * its invalidation over the bus come with the authz service (issue 4).
 */
export class RemoteAuthorizer implements Authorizer {
  constructor(private readonly clients: MeshClients) {}

  async authorize(ctx: CallContext, resource: string, action: string, ownerId?: string): Promise<void> {
    const { subjectId, organizationId } = subjectOf(ctx);
    const decision = await this.clients.get(AuthzService).check(
      { subjectId, organizationId, resource, action, ownerId },
      { parent: ctx, bearer: bearerOf(ctx) },
    );
    if (!decision.allowed) throw permissionDenied(`not allowed to ${action} ${resource}: ${decision.reason}`);
  }

  async resolveScope(ctx: CallContext, resource: string, action: string): Promise<ScopeName> {
    const { subjectId, organizationId } = subjectOf(ctx);
    const res = await this.clients.get(AuthzService).resolveScope({ subjectId, organizationId, resource, action }, { parent: ctx, bearer: bearerOf(ctx) });
    return res.scope === Scope.ALL ? "ALL" : res.scope === Scope.OWN ? "OWN" : "NONE";
  }
}

function subjectOf(ctx: CallContext): { subjectId: string; organizationId: string } {
  const caller = ctx.caller;
  if (!caller?.organizationId) throw unauthenticated("this call needs an access token bound to an organisation");
  return { subjectId: caller.subject, organizationId: caller.organizationId };
}

/** The caller's own token travels on, so authz sees who asks. */
function bearerOf(ctx: CallContext): string | undefined {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" ? header.replace(/^Bearer\s+/i, "") : undefined;
}
