import { AttendanceService } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import type { ServiceModule } from "../runtime/service-module.js";

/** Attendance: recognitions → IN/OUT events → daily records. Handlers land with issue 6. */
export const attendanceModule: ServiceModule = {
  name: "attendance",
  services: [AttendanceService],
  migrations: [],
  async start({ server }) {
    server.register(AttendanceService, {});
    return { stop: async () => undefined };
  },
};
