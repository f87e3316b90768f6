import type { PolicyRows } from "../../services/authz/policy/compiled-policy.js";
import { rng, type Rng } from "../../test/authz/support/random-policy.js";

export const ACTIONS = ["read", "create", "update", "delete"];

export interface BenchPolicySize {
  organizations: number;
  resources: number;
  roles: number;
  grantsPerRole: number;
  /** Over all organisations. */
  users: number;
  rolesPerUser: number;
}

/** The issue's policy: 3 organisations x 50 roles x 20 grants over 30 resources, 10k users with 2 roles each. */
export const ISSUE_POLICY: BenchPolicySize = { organizations: 3, resources: 30, roles: 50, grantsPerRole: 20, users: 10_000, rolesPerUser: 2 };

/** A deterministic policy of that shape (every resource has read/create/update/delete; half have owners). */
export function benchPolicy(size: BenchPolicySize, seed = 1): PolicyRows[] {
  const r = rng(seed);
  return Array.from({ length: size.organizations }, (_, o): PolicyRows => {
    const resources = Array.from({ length: size.resources }, (_, i) => ({ id: r.uuid(), name: `resource_${i}`, hasOwner: i % 2 === 0, isActive: true }));
    const permissions = resources.flatMap((res) => ACTIONS.map((action) => ({ id: r.uuid(), resourceId: res.id, action })));
    const roles = Array.from({ length: size.roles }, (_, i) => ({ id: r.uuid(), name: `role_${i}` }));
    const grants = roles.flatMap((role) =>
      distinct(r, permissions.length, size.grantsPerRole).map((p) => {
        const permission = permissions[p]!;
        const owned = resources.find((res) => res.id === permission.resourceId)!.hasOwner;
        return { roleId: role.id, permissionId: permission.id, scope: owned && r.chance(0.5) ? ("OWN" as const) : ("ALL" as const) };
      }),
    );
    const users = Math.floor(size.users / size.organizations) + (o < size.users % size.organizations ? 1 : 0);
    const subjects = Array.from({ length: users }, () => ({ subjectId: r.uuid(), roleIds: distinct(r, roles.length, size.rolesPerUser).map((i) => roles[i]!.id) }));
    return { organizationId: r.uuid(), revision: 1n, resources, permissions, roles, grants, subjects };
  });
}

export interface BenchQuery {
  organizationId: string;
  subjectId: string;
  resource: string;
  action: string;
  ownerId: string | undefined;
}

/** Random checks: 90% by members of the organisation, owner unset, the subject's own or someone else's. */
export function benchQueries(policy: readonly PolicyRows[], count: number, seed = 2): BenchQuery[] {
  const r = rng(seed);
  const strangers = Array.from({ length: 100 }, () => r.uuid());
  return Array.from({ length: count }, () => {
    const org = r.pick(policy);
    const subjectId = r.chance(0.9) ? r.pick(org.subjects).subjectId : r.pick(strangers);
    const resource = r.pick(org.resources).name;
    const owner = r.int(3);
    return { organizationId: org.organizationId, subjectId, resource, action: r.pick(ACTIONS), ownerId: owner === 0 ? undefined : owner === 1 ? subjectId : r.pick(strangers) };
  });
}

export interface BenchBatch {
  subjectId: string;
  organizationId: string;
  items: { resource: string; action: string; ownerId: string | undefined }[];
}

/** The b-th BatchCheck of 1,000 items, for the subject of query b: owner unset, the subject's own, someone else's. */
export function benchBatch(queries: readonly BenchQuery[], b: number): BenchBatch {
  const first = queries[b]!;
  const items = Array.from({ length: 1000 }, (_, i) => {
    const q = queries[(b * 1000 + i) % queries.length]!;
    return { resource: q.resource, action: q.action, ownerId: i % 3 === 0 ? undefined : i % 3 === 1 ? first.subjectId : q.subjectId };
  });
  return { subjectId: first.subjectId, organizationId: first.organizationId, items };
}

function distinct(r: Rng, n: number, k: number): number[] {
  const picked = new Set<number>();
  while (picked.size < Math.min(k, n)) picked.add(r.int(n));
  return [...picked];
}
