import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OAuthService } from "../../../gen/rollcall/identity/v1/oauth_pb.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { notFound } from "../../runtime/errors.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import type { Sessions } from "../sessions/sessions.js";
import { toUser } from "../users/convert.js";
import type { Users } from "../users/users.js";
import { toOAuthProvider } from "./convert.js";
import { Discovery } from "./discovery.js";
import { AccountLinker } from "./link.js";
import { OAuthLogin } from "./login.js";
import { OAuthProviders } from "./providers.js";
import { LoginStates } from "./state-store.js";
import { OAuthStore } from "./store.js";

/** Methods callable before the user has a token. */
export const OAUTH_PUBLIC_METHODS: ("startOAuthLogin" | "completeOAuthLogin")[] = ["startOAuthLogin", "completeOAuthLogin"];

/**
 * OAuthService: provider administration (configs:update, configs:read for listing) and the
 * public login flow.
 */
export function oauthHandlers(id: Identity, users: Users, sessions: Sessions): ServiceImpl<typeof OAuthService> {
  const store = new OAuthStore(id.sql);
  const providers = new OAuthProviders(id, store, new Discovery());
  const login = new OAuthLogin(id, providers, store, new LoginStates(id.cache, id.box), new AccountLinker(id, users, store), sessions);

  /** Platform callers act anywhere; everyone else needs the action on the organisation's configuration. */
  const authorize = async (ctx: CallContext, action: "read" | "update") => {
    if (!isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "configs", action);
  };
  const organizationOf = (ctx: CallContext, requested: string) =>
    targetOrganization(ctx, requested ? v.uuid("organization_id", requested) : "");

  return {
    async createOAuthProvider(req, ctx) {
      const orgId = organizationOf(ctx, req.organizationId);
      await authorize(ctx, "update");
      const row = await providers.create(orgId, req, callerOf(ctx), ctx.signal);
      return { provider: toOAuthProvider(row) };
    },

    async listOAuthProviders(req, ctx) {
      const orgId = organizationOf(ctx, req.organizationId);
      await authorize(ctx, "read");
      return { providers: (await providers.list(orgId)).map(toOAuthProvider) };
    },

    async deleteOAuthProvider(req, ctx) {
      const providerId = v.uuid("provider_id", req.providerId);
      const caller = callerOf(ctx);
      // The request names only the provider: platform callers act in whichever organisation has it.
      const orgId = isPlatform(caller) ? await providers.organizationOf(providerId) : targetOrganization(ctx, "");
      if (!orgId) throw notFound("OAuth provider", providerId);
      await authorize(ctx, "update");
      await providers.delete(orgId, providerId, caller);
      return {};
    },

    async startOAuthLogin(req, ctx) {
      const started = await login.start(req, ctx.client.ip, ctx.signal);
      return { authorizationUrl: started.authorizationUrl, state: started.state, expiresAt: timestampFromDate(started.expiresAt) };
    },

    async completeOAuthLogin(req, ctx) {
      const client = ctx.client;
      const done = await login.complete(req, { deviceId: req.deviceId.trim(), userAgent: (req.userAgent || client.userAgent).slice(0, 512), ip: client.ip }, ctx.signal);
      return { tokens: done.tokens, user: toUser(done.user, []), userCreated: done.userCreated };
    },
  };
}
