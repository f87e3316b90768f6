import { create } from "@bufbuild/protobuf";
import { CheckResultSchema, Scope, type EffectivePermission as EffectivePermissionMessage } from "../../../gen/rollcall/authz/v1/authz_pb.js";
import type { Fields } from "../messages.js";
import { invalidArgument } from "../../runtime/errors.js";

/** One organisation's policy as stored (built-in resources and permissions included). */
export interface PolicyRows {
  organizationId: string;
  revision: bigint;
  resources: readonly { id: string; name: string; hasOwner: boolean; isActive: boolean }[];
  permissions: readonly { id: string; resourceId: string; action: string }[];
  roles: readonly { id: string; name: string }[];
  grants: readonly { roleId: string; permissionId: string; scope: "OWN" | "ALL" }[];
  /** Each subject holding at least one role, with the ids of its roles. */
  subjects: readonly { subjectId: string; roleIds: readonly string[] }[];
}

/** An answer. Instances are shared between calls: never mutate one. */
export interface Decision {
  readonly allowed: boolean;
  readonly reason: string;
  readonly decidedByRole: string;
  readonly scope: Scope;
}

export type EffectivePermission = Fields<EffectivePermissionMessage>;

/** One (resource, action) pair: a permission. */
interface Slot {
  resource: string;
  action: string;
  permissionId: string;
  active: boolean;
  denied: Decision;
}

interface CompiledResource {
  active: boolean;
  actions: Map<string, number>;
  inactive: Decision;
}

interface CompiledRole {
  id: string;
  name: string;
  /** Scope granted per slot; Scope.UNSPECIFIED where nothing is granted. */
  scopes: Uint8Array;
  /** Per slot where granted: the decision when it allows, and when OWN meets someone else's object. */
  allows: (Decision | undefined)[];
  notOwner: (Decision | undefined)[];
}

/**
 * For one combination of roles, per slot: the index (into roles) of the role granting the widest
 * scope, or -1. Subjects holding the same roles share one.
 */
type BestRoles = Int32Array;

const NO_ROLES: Decision = deny("the subject holds no role in this organisation");
const PLATFORM_OPERATOR: Decision = decision(true, "platform operator: allowed without a grant", "", Scope.ALL);

/**
 * The decision structure of one organisation, built once per revision: resource and action names
 * resolve to a slot, a subject to the set of roles it holds, and each role set knows per slot which
 * of its roles grants the widest scope. A check is three map lookups and an array read, and
 * returns a decision object prepared at build time, so it allocates nothing.
 */
export class CompiledPolicy {
  revision: bigint;
  private readonly resources = new Map<string, CompiledResource>();
  private readonly slots: Slot[] = [];
  private readonly roles: CompiledRole[] = [];
  private readonly roleIndex = new Map<string, number>();
  private readonly roleSets = new Map<string, BestRoles>();
  private readonly subjects = new Map<string, BestRoles>();

  constructor(rows: PolicyRows) {
    this.revision = rows.revision;

    const resourceById = new Map(rows.resources.map((r) => [r.id, r]));
    const permissions = rows.permissions
      .map((p) => ({ ...p, resource: resourceById.get(p.resourceId) }))
      .filter((p) => p.resource !== undefined)
      .sort((a, b) => compare(a.resource!.name, b.resource!.name) || compare(a.action, b.action));
    for (const r of rows.resources) {
      this.resources.set(r.name, { active: r.isActive, actions: new Map(), inactive: deny(`resource ${r.name} is inactive`) });
    }
    const slotOfPermission = new Map<string, number>();
    for (const p of permissions) {
      const resource = p.resource!;
      const slot = this.slots.length;
      this.slots.push({
        resource: resource.name,
        action: p.action,
        permissionId: p.id,
        active: resource.isActive,
        denied: deny(`no role of the subject grants ${resource.name}.${p.action}`),
      });
      this.resources.get(resource.name)!.actions.set(p.action, slot);
      slotOfPermission.set(p.id, slot);
    }

    // Sorted by name, so that among roles granting the same scope the first name decides.
    for (const role of [...rows.roles].sort((a, b) => compare(a.name, b.name))) {
      this.roleIndex.set(role.id, this.roles.length);
      const perSlot = () => new Array<Decision | undefined>(this.slots.length).fill(undefined);
      this.roles.push({ id: role.id, name: role.name, scopes: new Uint8Array(this.slots.length), allows: perSlot(), notOwner: perSlot() });
    }
    for (const grant of rows.grants) {
      const roleAt = this.roleIndex.get(grant.roleId);
      const slot = slotOfPermission.get(grant.permissionId);
      if (roleAt === undefined || slot === undefined) continue;
      const role = this.roles[roleAt]!;
      const { resource, action } = this.slots[slot]!;
      const scope = grant.scope === "ALL" ? Scope.ALL : Scope.OWN;
      role.scopes[slot] = scope;
      role.allows[slot] = decision(true, `role ${role.name} grants ${resource}.${action} ${grant.scope}`, role.name, scope);
      role.notOwner[slot] = deny(`role ${role.name} grants ${resource}.${action} only on the subject's own objects, and this one belongs to someone else`);
    }

    for (const { subjectId, roleIds } of rows.subjects) this.setSubjectRoles(subjectId, roleIds);
  }

  /** Replaces what one subject holds (an assignment changed); no roles removes the subject. */
  setSubjectRoles(subjectId: string, roleIds: readonly string[]): void {
    const indices = [...new Set(roleIds.map((id) => this.roleIndex.get(id)).filter((i): i is number => i !== undefined))].sort((a, b) => a - b);
    if (indices.length === 0) {
      this.subjects.delete(subjectId);
      return;
    }
    const key = indices.join(",");
    let best = this.roleSets.get(key);
    if (!best) {
      best = this.bestRoles(indices);
      this.roleSets.set(key, best);
    }
    this.subjects.set(subjectId, best);
  }

  /** The slot of (resource, action), or INVALID_ARGUMENT naming what exists. */
  slotOf(resource: string, action: string): number {
    const compiled = this.resources.get(resource);
    if (compiled === undefined) {
      throw invalidArgument("resource", `unknown resource ${JSON.stringify(resource)}; this organisation has ${listed([...this.resources.keys()])}`);
    }
    const slot = compiled.actions.get(action);
    if (slot === undefined) {
      const actions = [...compiled.actions.keys()];
      throw invalidArgument(
        "action",
        `${JSON.stringify(action)} is not an action of resource ${resource}` + (actions.length ? ` (it has ${listed(actions)})` : " (it has no permissions yet)"),
      );
    }
    return slot;
  }

  /**
   * May `subjectId` perform the slot's action? With `ownerId`, an OWN grant allows only when the
   * subject owns the object; without it, OWN and ALL both allow (the caller narrows the rows).
   */
  decide(subjectId: string, slot: number, ownerId?: string): Decision {
    const target = this.slots[slot]!;
    if (!target.active) return this.resources.get(target.resource)!.inactive;
    const best = this.subjects.get(subjectId);
    if (best === undefined) return NO_ROLES;
    const at = best[slot]!;
    if (at < 0) return target.denied;
    const role = this.roles[at]!;
    if (ownerId === undefined || ownerId === subjectId || role.scopes[slot] === Scope.ALL) return role.allows[slot]!;
    return role.notOwner[slot]!;
  }

  /** A platform operator is allowed everything, except on an inactive resource. */
  decideAsPlatform(slot: number): Decision {
    const target = this.slots[slot]!;
    return target.active ? PLATFORM_OPERATOR : this.resources.get(target.resource)!.inactive;
  }

  /** decide() for a resource and action given by name (throws INVALID_ARGUMENT for unknown ones). */
  check(subjectId: string, resource: string, action: string, ownerId?: string): Decision {
    return this.decide(subjectId, this.slotOf(resource, action), ownerId);
  }

  /** What the subject may do, widest scope per (resource, action), ordered by resource then action. */
  effectivePermissions(subjectId: string): EffectivePermission[] {
    const best = this.subjects.get(subjectId);
    if (best === undefined) return [];
    const out: EffectivePermission[] = [];
    this.slots.forEach((slot, i) => {
      const at = best[i]!;
      if (at < 0 || !slot.active) return;
      const role = this.roles[at]!;
      out.push({ resource: slot.resource, action: slot.action, scope: role.scopes[i]!, role: role.name, roleId: role.id, permissionId: slot.permissionId });
    });
    return out;
  }

  /** Every active (resource, action), as a platform operator holds them. */
  allPermissions(): EffectivePermission[] {
    return this.slots
      .filter((slot) => slot.active)
      .map((slot) => ({ resource: slot.resource, action: slot.action, scope: Scope.ALL, role: "", roleId: "", permissionId: slot.permissionId }));
  }

  /** Sizes, for logs and benchmarks. */
  stats(): { slots: number; roles: number; roleSets: number; subjects: number } {
    return { slots: this.slots.length, roles: this.roles.length, roleSets: this.roleSets.size, subjects: this.subjects.size };
  }

  private bestRoles(indices: readonly number[]): BestRoles {
    const best = new Int32Array(this.slots.length).fill(-1);
    for (let slot = 0; slot < this.slots.length; slot++) {
      let widest = Scope.UNSPECIFIED as number;
      for (const i of indices) {
        const scope = this.roles[i]!.scopes[slot]!;
        // Scope values grow with width (OWN < ALL); indices ascend in name order, so on equal
        // scope the first role keeps the slot.
        if (scope > widest) {
          widest = scope;
          best[slot] = i;
        }
      }
    }
    return best;
  }
}

function deny(reason: string): Decision {
  return decision(false, reason, "", Scope.NONE);
}

/**
 * Decisions are made as CheckResult messages, once, when the policy is compiled: a BatchCheck
 * answer then serialises the shared messages as they are, where plain objects cost a new message
 * each (a thousand per batch, most of the call's garbage in the profile).
 */
function decision(allowed: boolean, reason: string, decidedByRole: string, scope: Scope): Decision {
  return create(CheckResultSchema, { allowed, reason, decidedByRole, scope });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function listed(names: string[]): string {
  const sorted = names.sort();
  if (sorted.length === 0) return "none";
  return sorted.length <= 25 ? sorted.join(", ") : `${sorted.slice(0, 25).join(", ")} and ${sorted.length - 25} more`;
}
