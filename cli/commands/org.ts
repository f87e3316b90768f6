import { Command, Option } from "commander";
import { OrganizationSchema, OrganizationService, OrganizationStatus, type Organization } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { protoJson, time, type Output } from "../output.js";
import { findOrganization, listAll } from "../resolve.js";
import { withMesh } from "../run.js";

const STATUSES = ["pending", "active", "suspended", "pending_deactivation"];

function show(out: Output, org: Organization, verb: string): void {
  out.result(protoJson(OrganizationSchema, org), () =>
    out.line(`${verb} organisation ${org.code} (${org.name}), id ${org.id}, status ${OrganizationStatus[org.status]}${org.statusReason ? ` (${org.statusReason})` : ""}`));
}

/** rollcall org create|list|show|verify|suspend|resume|delete (platform operators). */
export function orgCommand(): Command {
  const org = new Command("org").description("manage organisations (tenants); platform operators only");

  org.command("create <code>")
    .description("create an organisation and activate it (--no-activate leaves it PENDING)")
    .requiredOption("-n, --name <name>", "display name")
    .option("--legal-name <name>", "registered legal name", "")
    .option("--timezone <tz>", "IANA time zone of its attendance days", "UTC")
    .option("--no-activate", "leave it PENDING until `rollcall org verify`")
    .action(withMesh<{ name: string; legalName: string; timezone: string; activate: boolean }>(async ({ conn, out }, opts, code: string) => {
      const orgs = conn.client(OrganizationService);
      let created = (await orgs.createOrganization({ code, name: opts.name, legalName: opts.legalName, timezone: opts.timezone })).organization!;
      if (opts.activate) created = (await orgs.verifyOrganization({ organizationId: created.id })).organization!;
      show(out, created, "created");
    }));

  org.command("list")
    .description("list organisations")
    .addOption(new Option("--status <status>", "only this status").choices(STATUSES))
    .option("-q, --query <text>", "substring of code, name or legal name", "")
    .action(withMesh<{ status?: string; query: string }>(async ({ conn, out }, opts) => {
      const status = opts.status ? OrganizationStatus[opts.status.toUpperCase() as keyof typeof OrganizationStatus] : OrganizationStatus.UNSPECIFIED;
      const all = await listAll(async (pageToken) => {
        const page = await conn.client(OrganizationService).listOrganizations({ status, query: opts.query, page: { pageSize: 500, pageToken } });
        return { items: page.organizations, next: page.page?.nextPageToken ?? "" };
      });
      out.result({ organizations: all.map((o) => protoJson(OrganizationSchema, o)) }, () =>
        out.table(["CODE", "NAME", "STATUS", "TIMEZONE", "CREATED", "ID"], all.map((o) => [o.code, o.name, OrganizationStatus[o.status], o.timezone, time(o.createdAt), o.id])));
    }));

  org.command("show <org>")
    .description("show one organisation (code or id)")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => show(out, await findOrganization(conn, ref), "")));

  org.command("verify <org>")
    .description("activate a PENDING organisation")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const { id } = await findOrganization(conn, ref);
      show(out, (await conn.client(OrganizationService).verifyOrganization({ organizationId: id })).organization!, "verified");
    }));

  org.command("suspend <org>")
    .description("suspend an ACTIVE organisation: its sessions and device tokens stop working")
    .requiredOption("-r, --reason <text>", "shown to its administrators")
    .action(withMesh<{ reason: string }>(async ({ conn, out }, opts, ref: string) => {
      const { id } = await findOrganization(conn, ref);
      show(out, (await conn.client(OrganizationService).suspendOrganization({ organizationId: id, reason: opts.reason })).organization!, "suspended");
    }));

  org.command("resume <org>")
    .description("re-activate a SUSPENDED organisation")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const { id } = await findOrganization(conn, ref);
      show(out, (await conn.client(OrganizationService).resumeOrganization({ organizationId: id })).organization!, "resumed");
    }));

  org.command("delete <org>")
    .description("request deletion: the organisation turns read-only and its data is purged after the grace period")
    .option("-r, --reason <text>", "why", "")
    .action(withMesh<{ reason: string }>(async ({ conn, out }, opts, ref: string) => {
      const { id } = await findOrganization(conn, ref);
      const deleted = (await conn.client(OrganizationService).requestOrganizationDeletion({ organizationId: id, reason: opts.reason })).organization!;
      show(out, deleted, "deletion requested for");
    }));

  return org;
}
