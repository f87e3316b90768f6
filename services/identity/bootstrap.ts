import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Gender } from "../../gen/rollcall/identity/v1/user_pb.js";
import { status } from "@grpc/grpc-js";
import { violatedUnique } from "../runtime/db/index.js";
import { AppError } from "../runtime/errors.js";
import * as v from "../runtime/validate.js";
import { checkPasswordPolicy } from "./crypto/passwords.js";
import type { Identity } from "./context.js";
import type { Organizations } from "./organizations/organizations.js";
import type { Users } from "./users/users.js";

const ADMIN_USERNAME = "admin";

export interface BootstrapResult {
  organizationCode: string;
  email: string;
  /** Only when generated here: shown once, never stored in clear. */
  generatedPassword: string | undefined;
}

/**
 * On an empty database, creates the first organisation (ACTIVE) and its administrator, a
 * platform operator. The password comes from ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD or is generated
 * and returned once. Safe to run again after a partial failure (e.g. authz was not up yet): it
 * resumes where it stopped. Returns undefined when there is nothing to do.
 */
export async function bootstrap(id: Identity, organizations: Organizations, users: Users): Promise<BootstrapResult | undefined> {
  const { organizationCode, adminEmail, adminPassword } = id.config.identity.bootstrap;
  const email = v.email("ROLLCALL_BOOTSTRAP_ADMIN_EMAIL", adminEmail ?? `admin@${organizationCode}.rollcall.local`);
  const password = adminPassword ?? randomBytes(18).toString("base64url");
  checkPasswordPolicy(password, { email, username: ADMIN_USERNAME }, "ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD");

  const state = await id.db.withSystem(async (tx) => {
    const org = await id.organizations.byCode(tx, organizationCode);
    if (!org) return { org, firstRun: (await id.organizations.list(tx, { limit: 1 })).length === 0 };
    const members = await id.sql.rows(tx, "SELECT 1 FROM identity.users WHERE organization_id = $1 LIMIT 1", [org.id]);
    return { org, firstRun: members.length === 0 };
  });
  if (!state.firstRun) return undefined;
  let org = state.org;
  if (org) {
    await id.authzLink.seedOrganization(org.id);
  } else {
    try {
      org = await organizations.create({ code: organizationCode, name: "Default organisation", legalName: "", timezone: "UTC", settings: {} }, "ACTIVE", { kind: "system", subject: "" });
    } catch (err) {
      if (violatedUnique(err) !== undefined) return undefined; // another replica bootstrapped first
      throw err;
    }
  }
  await users.create(org.id, {
    username: ADMIN_USERNAME, email, password, firstName: "Rollcall", lastName: "Administrator", patronymic: "", phoneNumber: "",
    gender: Gender.UNSPECIFIED, birthDate: "", employeeCode: "", department: "", roles: ["ADMIN"], isStaff: true, emailVerified: true,
  }, { kind: "system", subject: "" });
  return { organizationCode: org.code, email, generatedPassword: adminPassword ? undefined : password };
}

/** Codes that mean "the rest of the mesh is not serving yet": worth waiting for. */
const TRANSIENT = new Set([status.UNAVAILABLE, status.UNIMPLEMENTED, status.DEADLINE_EXCEEDED]);

/** Retries while the rest of the mesh (authz) is still starting; gives up after `attempts`. */
export async function bootstrapWhenReady(run: () => Promise<BootstrapResult | undefined>, log: (err: unknown, attempt: number) => void, signal: AbortSignal, attempts = 30): Promise<BootstrapResult | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const transient = err instanceof AppError && TRANSIENT.has(err.code);
      if (!transient || attempt >= attempts || signal.aborted) throw err;
      log(err, attempt);
      await sleep(Math.min(250 * 2 ** attempt, 5_000), undefined, { signal }).catch(() => undefined);
    }
  }
}
