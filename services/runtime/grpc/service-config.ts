/**
 * The gRPC service config every mesh channel uses: client-side round-robin over every address
 * the target resolves to (a headless Service's pod IPs, or an `ipv4:a,b,c` list), and per-method
 * timeouts and retries. Retrying is safe only where a second attempt cannot do anything twice,
 * so only the methods listed here retry: reads, and computations that store nothing.
 */

const READS = 10_000;
const DECISIONS = 3_000;
const COMPUTE = 15_000;

/** `package.Service/Method` → timeout in ms. Every method listed is idempotent. */
export const IDEMPOTENT_METHODS: Readonly<Record<string, number>> = {
  "rollcall.identity.v1.OrganizationService/GetOrganization": READS,
  "rollcall.identity.v1.OrganizationService/ListOrganizations": READS,
  "rollcall.identity.v1.UserService/GetUser": READS,
  "rollcall.identity.v1.UserService/ListUsers": READS,
  "rollcall.identity.v1.AuthService/GetJwks": READS,
  "rollcall.identity.v1.AuthService/ListSessions": READS,
  "rollcall.identity.v1.DeviceService/GetDevice": READS,
  "rollcall.identity.v1.DeviceService/ListDevices": READS,
  "rollcall.identity.v1.OAuthService/ListOAuthProviders": READS,
  "rollcall.identity.v1.ConfigService/GetConfig": READS,
  "rollcall.identity.v1.ConfigService/ListConfig": READS,
  "rollcall.identity.v1.ConfigService/GetAppSetting": READS,
  "rollcall.authz.v1.AuthzService/Check": DECISIONS,
  "rollcall.authz.v1.AuthzService/BatchCheck": DECISIONS,
  "rollcall.authz.v1.AuthzService/ResolveScope": DECISIONS,
  "rollcall.authz.v1.AuthzService/ListEffectivePermissions": READS,
  "rollcall.authz.v1.AuthzAdminService/GetRole": READS,
  "rollcall.authz.v1.AuthzAdminService/ListRoles": READS,
  "rollcall.authz.v1.AuthzAdminService/ListResources": READS,
  "rollcall.authz.v1.AuthzAdminService/ListPermissions": READS,
  "rollcall.authz.v1.AuthzAdminService/ListGrants": READS,
  "rollcall.authz.v1.AuthzAdminService/ListUserRoles": READS,
  "rollcall.authz.v1.AuthzAdminService/ListRoleMembers": READS,
  "rollcall.authz.v1.AuthzAdminService/GetRevision": READS,
  "rollcall.vision.v1.VisionService/Detect": COMPUTE,
  "rollcall.vision.v1.VisionService/Identify": COMPUTE,
  "rollcall.vision.v1.VisionService/Verify": COMPUTE,
  "rollcall.vision.v1.VisionService/ListFaces": READS,
  "rollcall.vision.v1.VisionService/IndexStats": READS,
  "rollcall.attendance.v1.AttendanceService/GetToday": READS,
  "rollcall.attendance.v1.AttendanceService/ListWhoIsIn": READS,
  "rollcall.attendance.v1.AttendanceService/ListRecords": READS,
  "rollcall.attendance.v1.AttendanceService/GetSummary": READS,
  "rollcall.audit.v1.AuditService/ListAuditLogs": READS,
  "rollcall.audit.v1.AuditService/VerifyChain": 60_000,
  "rollcall.audit.v1.AuditService/ListSystemLogs": READS,
  "rollcall.audit.v1.AuditService/ListHealth": READS,
  "rollcall.audit.v1.AuditService/ListEvents": READS,
  "rollcall.audit.v1.AuditService/ListNotificationRules": READS,
  "rollcall.audit.v1.AuditService/ListNotifications": READS,
};

export const RETRY_POLICY = {
  // The first try and up to three more, each on the next address round-robin picks.
  maxAttempts: 4,
  initialBackoff: "0.05s",
  maxBackoff: "1s",
  backoffMultiplier: 2,
  // A replica that went away (killed, drained, unreachable); never an answer the handler gave.
  retryableStatusCodes: ["UNAVAILABLE"],
};

/** The service config as the `grpc.service_config` channel option wants it. */
export function meshServiceConfig(): string {
  return JSON.stringify({
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: Object.entries(IDEMPOTENT_METHODS).map(([path, timeoutMs]) => {
      const [service, method] = path.split("/");
      return { name: [{ service, method }], timeout: `${timeoutMs / 1000}s`, retryPolicy: RETRY_POLICY };
    }),
    // Retries pause while many calls fail at once (each failure spends a token, each success earns 0.1;
    // below half of 100 no retries): no retry storm on a sick mesh.
    retryThrottling: { maxTokens: 100, tokenRatio: 0.1 },
  });
}

/** Options of every channel between services (and from the gateway into the mesh). */
export function meshChannelOptions(maxMessageBytes = 64 * 1024 * 1024): Record<string, string | number> {
  return {
    "grpc.service_config": meshServiceConfig(),
    // The config above is the mesh's; a DNS TXT record must not replace it.
    "grpc.service_config_disable_resolution": 1,
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    // A pod that vanished without closing its connections is noticed within ~15 s even when idle.
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    // New pods behind a headless Service are found on reconnect and at least this often.
    "grpc.dns_min_time_between_resolutions_ms": 5_000,
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 5_000,
  };
}
