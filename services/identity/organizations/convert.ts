import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { OrganizationStatus, type OrganizationSchema } from "../../../gen/rollcall/identity/v1/organization_pb.js";
import type { OrganizationRow, OrganizationStatusName } from "./store.js";

export const STATUS_TO_PROTO: Record<OrganizationStatusName, OrganizationStatus> = {
  PENDING: OrganizationStatus.PENDING,
  ACTIVE: OrganizationStatus.ACTIVE,
  SUSPENDED: OrganizationStatus.SUSPENDED,
  PENDING_DEACTIVATION: OrganizationStatus.PENDING_DEACTIVATION,
};

export const STATUS_FROM_PROTO = new Map<OrganizationStatus, OrganizationStatusName>(
  Object.entries(STATUS_TO_PROTO).map(([name, value]) => [value, name as OrganizationStatusName]),
);

export function toOrganization(row: OrganizationRow): MessageInitShape<typeof OrganizationSchema> {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    legalName: row.legal_name,
    status: STATUS_TO_PROTO[row.status],
    statusReason: row.status_reason,
    timezone: row.timezone,
    settings: row.settings,
    deactivationRequestedAt: row.deactivation_requested_at ? timestampFromDate(new Date(row.deactivation_requested_at)) : undefined,
    createdAt: timestampFromDate(new Date(row.created_at)),
    updatedAt: timestampFromDate(new Date(row.updated_at)),
  };
}
