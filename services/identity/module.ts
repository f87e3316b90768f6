import { join } from "node:path";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { ConfigService } from "../../gen/rollcall/identity/v1/config_pb.js";
import { DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { OAuthService } from "../../gen/rollcall/identity/v1/oauth_pb.js";
import { OrganizationService } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { AuditPublisher } from "../runtime/audit-publisher.js";
import { EventPublisher } from "../runtime/event-publisher.js";
import type { ServiceModule } from "../runtime/service-module.js";
import { identityMigrations } from "./migrations.js";
import { stores, type Identity } from "./context.js";
import { PasswordHasher } from "./crypto/passwords.js";
import { SecretBox, loadEncryptionKey } from "./crypto/secret-box.js";
import { KeyRing } from "./tokens/key-ring.js";
import { TokenIssuer } from "./tokens/token-issuer.js";
import { AuthzLink } from "./authz-link.js";
import { Organizations } from "./organizations/organizations.js";
import { organizationHandlers } from "./organizations/handlers.js";
import { DeletionJob } from "./organizations/deletion-job.js";
import { Users } from "./users/users.js";
import { userHandlers } from "./users/handlers.js";
import { Sessions } from "./sessions/sessions.js";
import { Lockout } from "./auth/lockout.js";
import { PasswordLogin } from "./auth/login.js";
import { authHandlers } from "./auth/handlers.js";
import { OAUTH_PUBLIC_METHODS, oauthHandlers } from "./oauth/handlers.js";
import { Recovery } from "./auth/recovery.js";
import { createMailer } from "../runtime/mail/mailer.js";
import { bootstrap, bootstrapWhenReady } from "./bootstrap.js";
import { DeviceStore } from "./devices/store.js";
import { Devices } from "./devices/devices.js";
import { deviceHandlers } from "./devices/handlers.js";
import { ConfigStore } from "./config/config-store.js";
import { configHandlers } from "./config/handlers.js";

/** Identity: tenants, users, sessions and tokens, devices, OAuth, config. */
export const identityModule: ServiceModule = {
  name: "identity",
  services: [OrganizationService, UserService, AuthService, DeviceService, OAuthService, ConfigService],
  migrations: identityMigrations,

  async start(deps) {
    const { config, logger, db, cache, bus, clients, authz, server, admin } = deps;
    const settings = config.identity;
    const box = new SecretBox(await loadEncryptionKey(settings.encryptionKey, join(config.dataDir, "encryption.key"), logger));
    const keys = new KeyRing(db, box, { rotationSec: settings.keyRotationSec, maxTokenTtlSec: Math.max(settings.accessTokenTtlSec, settings.deviceTokenTtlSec), logger });
    await keys.start();
    const tokens = new TokenIssuer(keys, { issuer: config.jwt.issuer, audience: config.jwt.audience, accessTokenTtlSec: settings.accessTokenTtlSec, deviceTokenTtlSec: settings.deviceTokenTtlSec });
    const id: Identity = {
      config, logger, db, cache, clients, authz, box, keys, tokens,
      ...stores(db),
      audit: new AuditPublisher(bus, "identity", logger),
      events: new EventPublisher(bus, logger),
      hasher: new PasswordHasher(settings.argon2),
      authzLink: new AuthzLink(clients, tokens, bus, logger),
    };
    const organizations = new Organizations(id);
    const users = new Users(id);
    const sessions = new Sessions(id, id.sessions);
    const deviceStore = new DeviceStore(id.sql);
    const passwordLogin = new PasswordLogin(id, sessions, new Lockout(cache, { threshold: settings.lockoutThreshold, ipThreshold: settings.lockoutIpThreshold, maxSec: settings.lockoutMaxSec }));

    server.register(OrganizationService, organizationHandlers(id, organizations));
    server.register(UserService, userHandlers(id, organizations, users, sessions), { publicMethods: ["createUser"] });
    const mailer = createMailer(settings.smtpUrl, settings.mailFrom, logger);
    const recovery = new Recovery(id, sessions, mailer);
    server.register(AuthService, authHandlers(id, passwordLogin, sessions, recovery), {
      publicMethods: ["login", "refresh", "getJwks", "confirmEmail", "requestPasswordReset", "resetPassword", "issueServiceToken"],
      // With mTLS, only the mesh's own services (by certificate) may exchange the shared secret.
      internalMethods: ["issueServiceToken"],
    });
    server.register(DeviceService, deviceHandlers(id, new Devices(id, deviceStore), deviceStore), { publicMethods: ["issueDeviceToken"] });
    server.register(OAuthService, oauthHandlers(id, users, sessions), { publicMethods: OAUTH_PUBLIC_METHODS });
    server.register(ConfigService, configHandlers(id, new ConfigStore(id)));
    admin.addRoute("/.well-known/jwks.json", (_req, res) => {
      res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=60" }).end(JSON.stringify(keys.jwks()));
    });
    await organizations.syncBlocks();
    const deletionJob = new DeletionJob(id, settings.deletionCheckIntervalSec * 1000);
    deletionJob.start();

    const stopping = new AbortController();
    const bootstrapped = bootstrapWhenReady(
      () => bootstrap(id, organizations, users),
      (err, attempt) => logger.info({ err: (err as Error).message, attempt }, "bootstrap waits for the mesh"),
      stopping.signal,
    ).then((result) => {
      if (!result) return;
      logger.info({ organization: result.organizationCode, email: result.email }, "bootstrapped the first organisation and its administrator");
      // Shown once, on the terminal only: never written to the log.
      if (result.generatedPassword) {
        process.stdout.write(`\nFirst organisation "${result.organizationCode}" created. Administrator: ${result.email}\n` +
          `Password (shown once; set ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD to choose it): ${result.generatedPassword}\n\n`);
      }
    });

    return {
      // A failed first-run bootstrap (bad ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD, authz never up) fails the start.
      ready: bootstrapped,
      async stop() {
        stopping.abort();
        await deletionJob.stop();
        await bootstrapped.catch(() => undefined);
        keys.stop();
        id.authzLink.stop();
        mailer.close();
      },
    };
  },
};
