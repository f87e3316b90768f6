import { status } from "@grpc/grpc-js";
import { UserService } from "../../../gen/rollcall/identity/v1/user_pb.js";
import { AppError, notFound, unavailable } from "../../runtime/errors.js";
import { callerBearer, type CallContext } from "../../runtime/grpc/context.js";
import type { MeshClients } from "../../runtime/mesh-clients.js";
import type { Person } from "./enrolment.js";

/**
 * The people faces belong to, as identity knows them. Enrolment asks here first, with the
 * caller's own token: the user must exist in the caller's organisation (identity does not
 * find soft-deleted users), and their profile gives the stable face label stored with each
 * embedding.
 */
export class PersonDirectory {
  constructor(private readonly clients: MeshClients) {}

  async enrollable(organizationId: string, userId: string, ctx: CallContext): Promise<Person> {
    let user;
    try {
      ({ user } = await this.clients.get(UserService).getUser({ userId }, { parent: ctx, bearer: callerBearer(ctx), timeoutMs: 3_000 }));
    } catch (err) {
      if (err instanceof AppError && err.code === status.NOT_FOUND) throw notFound("user", userId);
      if (err instanceof AppError && err.code === status.PERMISSION_DENIED) throw err;
      throw unavailable(`cannot confirm user ${userId} with the identity service (${(err as Error).message}); try again`);
    }
    if (!user || user.organizationId !== organizationId) throw notFound("user", userId);
    return { userId, faceLabel: user.profile?.faceLabel ?? 0n };
  }
}
