import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PolicyChangedSchema } from "../../../gen/rollcall/authz/v1/bus_pb.js";
import { subjects, type Bus, type Subscription } from "../bus/bus.js";
import type { Logger } from "../logger.js";

/** `subjects.authzChanged(org)` for every organisation. */
const ANY_ORGANIZATION = "authz.changed.*";

/**
 * Announces a committed policy revision on core pub/sub, so that decision caches (the authz
 * service's compiled policies, every service's RemoteAuthorizer) drop what is older. A lost
 * message only delays that: both caches also expire on their own within a second.
 */
export function publishPolicyChanged(bus: Bus, logger: Logger, organizationId: string, revision: bigint, change: string): void {
  const message = create(PolicyChangedSchema, { organizationId, revision, change, changedAt: timestampFromDate(new Date()) });
  try {
    bus.publishEphemeral(subjects.authzChanged(organizationId), toBinary(PolicyChangedSchema, message));
  } catch (err) {
    logger.warn({ err, organizationId, revision: String(revision) }, "could not announce a policy change; caches catch up by expiry");
  }
}

export function onPolicyChanged(bus: Bus, logger: Logger, handler: (organizationId: string, revision: bigint) => void): Subscription {
  return bus.subscribe(ANY_ORGANIZATION, (message) => {
    let event;
    try {
      event = fromBinary(PolicyChangedSchema, message.data);
    } catch (err) {
      logger.warn({ err, subject: message.subject }, "ignoring a PolicyChanged message that does not decode");
      return;
    }
    handler(event.organizationId, event.revision);
  });
}
