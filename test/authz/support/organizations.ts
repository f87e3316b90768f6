import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { status } from "@grpc/grpc-js";
import { AppError } from "../../../services/runtime/errors.js";
import type { AuthzWorld, Session } from "./harness.js";

/** A seeded organisation with one person per system role, plus a second USER and someone without roles. */
export interface SeededOrganization {
  id: string;
  admin: string;
  operator: string;
  user: string;
  otherUser: string;
  nobody: string;
  sessions: { admin: Session; operator: Session; user: Session; otherUser: Session; nobody: Session };
}

export async function seededOrganization(world: AuthzWorld, platform: Session): Promise<SeededOrganization> {
  const id = randomUUID();
  const [admin, operator, user, otherUser, nobody] = Array.from({ length: 5 }, () => randomUUID());
  await platform.admin.seedOrganization({ organizationId: id, adminUserId: admin });
  await platform.admin.assignRole({ organizationId: id, userId: operator, roleName: "OPERATOR" });
  for (const u of [user, otherUser]) await platform.admin.assignRole({ organizationId: id, userId: u, roleName: "USER" });
  const session = (subject: string) => world.as({ kind: "user", subject, organizationId: id });
  return {
    id, admin: admin!, operator: operator!, user: user!, otherUser: otherUser!, nobody: nobody!,
    sessions: {
      admin: await session(admin!), operator: await session(operator!), user: await session(user!),
      otherUser: await session(otherUser!), nobody: await session(nobody!),
    },
  };
}

/** Asserts that `call` fails with `code`, and with a message matching `message` when given. */
export async function rejectsWith(call: Promise<unknown>, code: status, message?: RegExp): Promise<AppError> {
  let caught: unknown;
  await assert.rejects(call, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}
