import type { ServiceModule } from "./runtime/service-module.js";
import { identityModule } from "./identity/module.js";
import { authzModule } from "./authz/module.js";
import { visionModule } from "./vision/module.js";
import { attendanceModule } from "./attendance/module.js";
import { auditModule } from "./audit/module.js";

/** Every service, in start order (identity first: the others trust its keys). */
export const SERVICE_MODULES: readonly ServiceModule[] = [identityModule, authzModule, visionModule, attendanceModule, auditModule];
