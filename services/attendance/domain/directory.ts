import { ConfigService } from "../../../gen/rollcall/identity/v1/config_pb.js";
import { DeviceDirection, DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { OrganizationService } from "../../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../../gen/rollcall/identity/v1/user_pb.js";
import type { Logger } from "../../runtime/logger.js";
import type { MeshClients } from "../../runtime/mesh-clients.js";
import type { ServiceTokens } from "../../runtime/service-tokens.js";
import type { AttendanceConfig } from "../config.js";
import type { Direction } from "./day.js";

/** How an organisation's recognitions become attendance. */
export interface OrganizationRules {
  timeZone: string;
  debounceMs: number;
  minConfidence: number;
}

export interface Person {
  employeeCode: string;
  fullName: string;
  department: string;
}

/** What attendance needs to know from identity. */
export interface Directory {
  /** NOT_FOUND when the organisation does not exist. */
  rules(organizationId: string): Promise<OrganizationRules>;
  /** undefined when the device does not exist in that organisation. */
  direction(organizationId: string, deviceId: string): Promise<Direction | undefined>;
  departmentMembers(organizationId: string, department: string): Promise<string[]>;
  /** Every user of the organisation, for exports. */
  people(organizationId: string): Promise<Map<string, Person>>;
}

export const DEBOUNCE_KEY = "attendance.debounce_seconds";
export const MIN_CONFIDENCE_KEY = "attendance.min_confidence";

const DIRECTIONS: Record<number, Direction> = { [DeviceDirection.IN]: "IN", [DeviceDirection.OUT]: "OUT", [DeviceDirection.BOTH]: "BOTH" };

class Expiring<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();
  constructor(private readonly ttlMs: number) {}

  async get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await load();
    if (this.entries.size >= 50_000) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
    return value;
  }
}

/**
 * The Directory over identity's RPCs, called as the attendance service itself (its service
 * token): the bus consumer and the closer have no caller to act for. Answers are reused for
 * `directoryCacheMs`, so a changed device direction or setting applies within that time.
 */
export class IdentityDirectory implements Directory {
  private readonly rulesCache: Expiring<OrganizationRules>;
  private readonly devices: Expiring<Map<string, Direction>>;

  constructor(private readonly clients: MeshClients, private readonly tokens: ServiceTokens, private readonly config: AttendanceConfig, private readonly logger: Logger) {
    this.rulesCache = new Expiring(config.directoryCacheMs);
    this.devices = new Expiring(config.directoryCacheMs);
  }

  rules(organizationId: string): Promise<OrganizationRules> {
    return this.rulesCache.get(organizationId, async () => {
      const options = await this.options();
      const [{ organization }, { entries }] = await Promise.all([
        this.clients.get(OrganizationService).getOrganization({ organizationId }, options),
        this.clients.get(ConfigService).listConfig({ organizationId }, options),
      ]);
      const setting = (key: string, fallback: number, max: number) => {
        const value = entries.find((e) => e.key === key)?.value?.kind;
        if (!value) return fallback;
        if (value.case === "numberValue" && value.value >= 0 && value.value <= max) return value.value;
        this.logger.warn({ organizationId, key }, `organisation setting must be a number from 0 to ${max}; using the default`);
        return fallback;
      };
      return {
        timeZone: organization?.timezone || "UTC",
        debounceMs: setting(DEBOUNCE_KEY, this.config.debounceSec, 86_400) * 1000,
        minConfidence: setting(MIN_CONFIDENCE_KEY, this.config.minConfidence, 100),
      };
    });
  }

  /** Reads the organisation's whole device list at once: one call serves every camera. */
  async direction(organizationId: string, deviceId: string): Promise<Direction | undefined> {
    const devices = await this.devices.get(organizationId, async () => {
      const map = new Map<string, Direction>();
      let pageToken = "";
      do {
        const res = await this.clients.get(DeviceService).listDevices({ organizationId, page: { pageSize: 500, pageToken } }, await this.options());
        for (const d of res.devices) if (DIRECTIONS[d.direction]) map.set(d.id, DIRECTIONS[d.direction]!);
        pageToken = res.page?.nextPageToken ?? "";
      } while (pageToken);
      return map;
    });
    return devices.get(deviceId);
  }

  async departmentMembers(organizationId: string, department: string): Promise<string[]> {
    const ids: string[] = [];
    await this.eachUser(organizationId, department, (user) => ids.push(user.id));
    return ids;
  }

  async people(organizationId: string): Promise<Map<string, Person>> {
    const people = new Map<string, Person>();
    await this.eachUser(organizationId, "", (user) =>
      people.set(user.id, { employeeCode: user.profile?.employeeCode ?? "", fullName: user.fullName, department: user.profile?.department ?? "" }),
    );
    return people;
  }

  private async eachUser(organizationId: string, department: string, visit: (user: { id: string; fullName: string; profile?: { employeeCode: string; department: string } }) => void): Promise<void> {
    let pageToken = "";
    do {
      const res = await this.clients.get(UserService).listUsers({ organizationId, department, includeDeleted: true, page: { pageSize: 500, pageToken } }, await this.options());
      res.users.forEach(visit);
      pageToken = res.page?.nextPageToken ?? "";
    } while (pageToken);
  }

  private async options() {
    return { bearer: await this.tokens.token(), timeoutMs: 5_000 };
  }
}
