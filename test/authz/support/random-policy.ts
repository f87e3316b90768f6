import { newEnforcer, newModelFromString, type Enforcer } from "casbin";
import type { PolicyRows } from "../../../services/authz/policy/compiled-policy.js";
import { Sql, type Database } from "../../../services/runtime/db/index.js";

/** Mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Rng {
  float(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  uuid(): string;
}

export function rng(seed: number): Rng {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join("");
  return {
    float: next,
    int,
    pick: (items) => items[int(items.length)]!,
    chance: (p) => next() < p,
    // join() makes a flat string, as the database driver delivers ids (a template literal would
    // make a rope, which costs several times the memory once stored).
    uuid: () => [hex(8), hex(4), `4${hex(3)}`, `8${hex(3)}`, hex(12)].join("-"),
  };
}

const ACTIONS = ["read", "create", "update", "delete", "export", "approve"];

export interface RandomWorld {
  organizations: PolicyRows[];
  /** Subjects of every organisation, to ask across tenants too. */
  subjects: string[];
}

/**
 * Random organisations: resources (some without owner, some inactive), actions, roles, grants
 * (OWN only where there is an owner, as the service enforces) and subjects holding 0–3 roles.
 * Some subjects hold roles in two organisations.
 */
export function randomWorld(r: Rng, sizes = { organizations: 3, resources: 6, roles: 8, grantsPerRole: 10, subjects: 12 }): RandomWorld {
  const shared = Array.from({ length: 3 }, () => r.uuid());
  const subjects = new Set<string>(shared);
  const organizations = Array.from({ length: 1 + r.int(sizes.organizations) }, (): PolicyRows => {
    const organizationId = r.uuid();
    const resources = Array.from({ length: 1 + r.int(sizes.resources) }, (_, i) => ({
      id: r.uuid(), name: `res${i}`, hasOwner: r.chance(0.6), isActive: r.chance(0.85),
    }));
    const permissions = resources.flatMap((res) =>
      ACTIONS.filter(() => r.chance(0.6)).map((action) => ({ id: r.uuid(), resourceId: res.id, action })),
    );
    if (permissions.length === 0) permissions.push({ id: r.uuid(), resourceId: resources[0]!.id, action: "read" });
    const roles = Array.from({ length: 1 + r.int(sizes.roles) }, (_, i) => ({ id: r.uuid(), name: `role${i}` }));
    const grants = new Map<string, PolicyRows["grants"][number]>();
    for (const role of roles) {
      for (let g = r.int(sizes.grantsPerRole + 1); g > 0 && permissions.length > 0; g--) {
        const permission = r.pick(permissions);
        const owned = resources.find((res) => res.id === permission.resourceId)!.hasOwner;
        grants.set(`${role.id}/${permission.id}`, { roleId: role.id, permissionId: permission.id, scope: owned && r.chance(0.5) ? "OWN" : "ALL" });
      }
    }
    const members = Array.from({ length: r.int(sizes.subjects + 1) }, () => (r.chance(0.2) ? r.pick(shared) : r.uuid()));
    const held = new Map<string, string[]>();
    for (const subjectId of members) {
      subjects.add(subjectId);
      const roleIds = [...new Set(Array.from({ length: r.int(4) }, () => r.pick(roles).id))];
      if (roleIds.length > 0) held.set(subjectId, roleIds);
    }
    return {
      organizationId, revision: 1n, resources, permissions, roles, grants: [...grants.values()],
      subjects: [...held].map(([subjectId, roleIds]) => ({ subjectId, roleIds })),
    };
  });
  return { organizations, subjects: [...subjects] };
}

export interface Query {
  organizationId: string;
  subjectId: string;
  resource: string;
  action: string;
  /** "" for none. */
  ownerId: string;
}

export function randomQuery(r: Rng, world: RandomWorld): Query {
  const org = r.pick(world.organizations);
  // Mostly the organisation's own members, also other tenants' and strangers.
  const roll = r.float();
  const subjectId = roll < 0.6 && org.subjects.length > 0 ? r.pick(org.subjects).subjectId : roll < 0.9 ? r.pick(world.subjects) : r.uuid();
  const permission = r.pick(org.permissions);
  const resource = org.resources.find((res) => res.id === permission.resourceId)!.name;
  const ownerId = r.pick(["", subjectId, r.uuid()]);
  return { organizationId: org.organizationId, subjectId, resource, action: permission.action, ownerId };
}

/** The reference: RBAC with domains, plus an owner matcher for OWN grants. */
const MODEL = `
[request_definition]
r = sub, dom, obj, act, owner

[policy_definition]
p = sub, dom, obj, act, scope

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act && (p.scope == "ALL" || r.owner == "" || r.owner == r.sub)
`;

/** The same policies in node-casbin: grants of active resources as p rules, assignments as g rules. */
export async function casbinOf(organizations: readonly PolicyRows[]): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(MODEL));
  const p: string[][] = [];
  const g: string[][] = [];
  for (const org of organizations) {
    const resources = new Map(org.resources.map((res) => [res.id, res]));
    const permissions = new Map(org.permissions.map((perm) => [perm.id, perm]));
    for (const grant of org.grants) {
      const permission = permissions.get(grant.permissionId)!;
      const resource = resources.get(permission.resourceId)!;
      if (resource.isActive) p.push([grant.roleId, org.organizationId, resource.name, permission.action, grant.scope]);
    }
    for (const { subjectId, roleIds } of org.subjects) for (const roleId of roleIds) g.push([subjectId, roleId, org.organizationId]);
  }
  if (p.length > 0) await enforcer.addPolicies(p);
  if (g.length > 0) await enforcer.addNamedGroupingPolicies("g", g);
  return enforcer;
}

/** Writes one organisation's rows as the admin RPCs would leave them (in bulk, for tests and benchmarks). */
export async function storePolicy(db: Database, org: PolicyRows): Promise<void> {
  const sql = new Sql(db.sequelize);
  const o = org.organizationId;
  await db.withTenant(o, async (tx) => {
    const insert = (text: string, rows: unknown[][]) => (rows.length === 0 ? Promise.resolve(0) : sql.execute(tx, text, rows[0]!.map((_, col) => rows.map((row) => row[col]))));
    await insert("INSERT INTO authz.resources (id, organization_id, name, has_owner, is_active) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::boolean[], $5::boolean[])",
      org.resources.map((res) => [res.id, o, res.name, res.hasOwner, res.isActive]));
    await insert("INSERT INTO authz.permissions (id, organization_id, resource_id, action, name) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])",
      org.permissions.map((p) => [p.id, o, p.resourceId, p.action, `${p.resourceId}.${p.action}`]));
    await insert("INSERT INTO authz.roles (id, organization_id, name) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])",
      org.roles.map((role) => [role.id, o, role.name]));
    await insert("INSERT INTO authz.grants (organization_id, role_id, permission_id, scope) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])",
      org.grants.map((g) => [o, g.roleId, g.permissionId, g.scope]));
    await insert("INSERT INTO authz.user_roles (user_id, role_id, organization_id) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])",
      org.subjects.flatMap((s) => s.roleIds.map((roleId) => [s.subjectId, roleId, o])));
    await sql.execute(tx, "INSERT INTO authz.revisions (organization_id, revision) VALUES ($1, 1)", [o]);
  });
}
