import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConfigService } from "../../../gen/rollcall/identity/v1/config_pb.js";
import { DeviceDirection, DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { OrganizationService } from "../../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../../gen/rollcall/identity/v1/user_pb.js";
import { AuthService } from "../../../gen/rollcall/identity/v1/auth_pb.js";
import { VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import { FACES_DIR } from "../../agent/support/frames.js";
import type { E2eMesh } from "./mesh.js";

const PASSWORD = "E2e-tenant-passw0rd!";

export interface Camera {
  id: string;
  secret: string;
}

export interface Tenant {
  id: string;
  code: string;
  /** An ADMIN of the organisation (enrols faces, reads everyone's attendance). */
  adminToken: string;
  /** user id by name. */
  people: Record<string, string>;
  cameras: { in: Camera; out: Camera };
}

/**
 * A verified organisation with an administrator, one user per person (enrolled with the given
 * photos from ../shared/faces/identities), an IN and an OUT camera, and attendance settings.
 */
export async function createTenant(mesh: E2eMesh, enrol: Record<string, string[]>, settings: Record<string, number> = {}): Promise<Tenant> {
  const platform = await mesh.adminToken();
  const core = mesh.core.target;
  const code = `e2e${randomBytes(4).toString("hex")}`;
  const organizations = mesh.client(OrganizationService, core, platform);
  const { organization } = await organizations.createOrganization({ code, name: `E2E ${code}`, timezone: "UTC" });
  const id = organization!.id;
  await organizations.verifyOrganization({ organizationId: id });
  const users = mesh.client(UserService, core, platform);
  await users.createUser({ organizationId: id, username: "boss", email: `boss@${code}.test`, password: PASSWORD, firstName: "Boss", lastName: "Admin", roles: ["ADMIN"] });
  const adminToken = (await mesh.client(AuthService, core).login({ organizationCode: code, login: "boss", password: PASSWORD })).tokens!.accessToken;
  const vision = mesh.client(VisionService, mesh.vision.target, adminToken);
  const people: Record<string, string> = {};
  for (const [name, photos] of Object.entries(enrol)) {
    const { user } = await users.createUser({ organizationId: id, username: name, email: `${name}@${code}.test`, password: PASSWORD, firstName: name, lastName: "Person", department: "Doors", roles: ["USER"] });
    people[name] = user!.id;
    if (photos.length === 0) continue;
    const result = await vision.enrol({
      userId: user!.id,
      photos: await Promise.all(photos.map(async (p) => ({ filename: p, content: await readFile(path.join(FACES_DIR, "identities", p)) }))),
    });
    const refused = result.results.filter((r) => !r.accepted);
    if (refused.length === photos.length) throw new Error(`no photo of ${name} was enrolled: ${refused.map((r) => r.detail).join("; ")}`);
  }
  const devices = mesh.client(DeviceService, core, platform);
  const camera = async (name: string, direction: DeviceDirection): Promise<Camera> => {
    const registered = await devices.registerDevice({ organizationId: id, name, direction });
    return { id: registered.device!.id, secret: registered.secret };
  };
  const cameras = { in: await camera("Entrance", DeviceDirection.IN), out: await camera("Exit", DeviceDirection.OUT) };
  const config = mesh.client(ConfigService, core, platform);
  for (const [key, value] of Object.entries(settings)) {
    await config.setConfig({ organizationId: id, key, value: { kind: { case: "numberValue", value } } });
  }
  return { id, code, adminToken, people, cameras };
}
