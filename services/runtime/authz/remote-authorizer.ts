import { AuthzService, Scope } from "../../../gen/rollcall/authz/v1/authz_pb.js";
import type { Bus, Subscription } from "../bus/bus.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import { callerBearer, type CallContext } from "../grpc/context.js";
import type { Logger } from "../logger.js";
import type { MeshClients } from "../mesh-clients.js";
import { uuid } from "../validate.js";
import type { AuthzDecision, Authorizer, CheckOptions, ScopeName } from "./authorizer.js";
import { callerOf, isPlatform } from "./callers.js";
import { onPolicyChanged } from "./policy-changed.js";

export interface RemoteAuthorizerOptions {
  /** Where PolicyChanged arrives. Without it cached decisions only expire. */
  bus?: Bus;
  logger?: Logger;
  /**
   * How long a decision is reused while no newer revision is heard of. Default 500 ms: with
   * the authz service's own 500 ms poll, a change is seen within a second even if its
   * PolicyChanged message is lost.
   */
  ttlMs?: number;
  /** Decisions kept at most, over all organisations; past it the cache starts over. Default 100,000. */
  maxEntries?: number;
  /** Upper bound of one Check call (the caller's deadline applies when shorter). Default 3 s. */
  timeoutMs?: number;
}

interface Cached {
  decision: AuthzDecision;
  expiresAt: number;
}

/** One organisation's cached decisions and the newest revision heard of for it. */
interface Organization {
  revision: bigint;
  decisions: Map<string, Cached>;
}

const SCOPES: Record<number, ScopeName> = { [Scope.ALL]: "ALL", [Scope.OWN]: "OWN" };
const PLATFORM: AuthzDecision = { allowed: true, reason: "platform caller: allowed without a grant", decidedByRole: "", scope: "ALL", revision: 0n };

/**
 * Authorizer over the AuthzService Check RPC, with a short local decision cache. A decision
 * depends only on the subject, the resource and action, and whether the object is the
 * subject's own, so that is the cache key. Entries of an organisation are dropped when
 * PolicyChanged announces a newer revision, and an answer made at an older revision than one
 * already heard of is not kept. Identical checks in flight share one call.
 */
export class RemoteAuthorizer implements Authorizer {
  private readonly organizations = new Map<string, Organization>();
  private readonly inFlight = new Map<string, Promise<AuthzDecision>>();
  private readonly subscription: Subscription | undefined;
  private entries = 0;

  constructor(private readonly clients: MeshClients, private readonly options: RemoteAuthorizerOptions = {}) {
    if (options.bus && options.logger) {
      this.subscription = onPolicyChanged(options.bus, options.logger, (org, revision) => this.heard(org, revision));
    }
  }

  async authorize(ctx: CallContext, resource: string, action: string, ownerId?: string): Promise<void> {
    const decision = await this.check(ctx, resource, action, { ownerId });
    if (!decision.allowed) throw permissionDenied(`not allowed to ${action} ${resource}: ${decision.reason}`);
  }

  async resolveScope(ctx: CallContext, resource: string, action: string): Promise<ScopeName> {
    // Without an owner, Check answers with the widest scope held: ResolveScope's answer.
    const decision = await this.check(ctx, resource, action);
    return decision.allowed ? decision.scope : "NONE";
  }

  async check(ctx: CallContext, resource: string, action: string, options: CheckOptions = {}): Promise<AuthzDecision> {
    const caller = callerOf(ctx);
    if (isPlatform(caller)) return PLATFORM;
    const organizationId = caller.organizationId;
    if (!organizationId) throw unauthenticated("this call needs an access token bound to an organisation");
    const subjectId = caller.subject;
    const ownerId = options.ownerId === undefined ? undefined : uuid("owner_id", options.ownerId);
    const owner = ownerId === undefined ? "any" : ownerId === subjectId ? "own" : "other";
    const key = `${subjectId}\u0000${resource}\u0000${action}\u0000${owner}`;

    const org = this.organization(organizationId);
    const cached = org.decisions.get(key);
    const atLeast = options.atLeastRevision;
    if (cached && cached.expiresAt > Date.now() && (atLeast === undefined || cached.decision.revision >= atLeast)) return cached.decision;

    const flightKey = `${organizationId}\u0000${key}\u0000${atLeast ?? ""}`;
    let call = this.inFlight.get(flightKey);
    if (!call) {
      call = this.ask(ctx, { subjectId, organizationId, resource, action, ownerId, atLeastRevision: atLeast })
        .then((decision) => {
          this.remember(organizationId, key, decision);
          return decision;
        })
        .finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, call);
    }
    return call;
  }

  close(): void {
    this.subscription?.unsubscribe();
  }

  private async ask(ctx: CallContext, request: { subjectId: string; organizationId: string; resource: string; action: string; ownerId?: string; atLeastRevision?: bigint }): Promise<AuthzDecision> {
    const res = await this.clients.get(AuthzService).check(request, { parent: ctx, bearer: callerBearer(ctx), timeoutMs: this.options.timeoutMs ?? 3000 });
    return { allowed: res.allowed, reason: res.reason, decidedByRole: res.decidedByRole, scope: SCOPES[res.scope] ?? "NONE", revision: res.revision };
  }

  private organization(organizationId: string): Organization {
    let org = this.organizations.get(organizationId);
    if (!org) {
      org = { revision: 0n, decisions: new Map() };
      this.organizations.set(organizationId, org);
    }
    return org;
  }

  private remember(organizationId: string, key: string, decision: AuthzDecision): void {
    const org = this.organization(organizationId);
    if (decision.revision < org.revision) return;
    org.revision = decision.revision;
    if (this.entries >= (this.options.maxEntries ?? 100_000)) this.forgetAll();
    if (!org.decisions.has(key)) this.entries++;
    org.decisions.set(key, { decision, expiresAt: Date.now() + (this.options.ttlMs ?? 500) });
  }

  private heard(organizationId: string, revision: bigint): void {
    const org = this.organization(organizationId);
    if (revision <= org.revision) return;
    org.revision = revision;
    this.entries -= org.decisions.size;
    org.decisions.clear();
  }

  private forgetAll(): void {
    for (const org of this.organizations.values()) org.decisions.clear();
    this.entries = 0;
  }
}
