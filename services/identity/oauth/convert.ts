import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { OAuthProviderSchema } from "../../../gen/rollcall/identity/v1/oauth_pb.js";
import { providerConfig, publicSettings } from "./provider-settings.js";
import type { ProviderRow } from "./store.js";

/** A provider as the API shows it: whether a secret is stored, never the secret. */
export function toOAuthProvider(row: ProviderRow): MessageInitShape<typeof OAuthProviderSchema> {
  const { endpoints } = providerConfig(row);
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    issuer: row.issuer,
    clientId: row.client_id,
    scopes: row.scopes,
    authorizationEndpoint: endpoints.authorization ?? "",
    tokenEndpoint: endpoints.token ?? "",
    userinfoEndpoint: endpoints.userinfo ?? "",
    settings: publicSettings(row),
    hasClientSecret: row.client_secret_enc !== "",
    createdAt: timestampFromDate(new Date(row.created_at)),
  };
}
