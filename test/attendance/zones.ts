import { localDate } from "../../services/attendance/domain/calendar.js";

const ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Auckland"];

/**
 * A zone where it is now between 04:00 and 20:00, so that events of the last two hours fall on
 * "today" whatever time the tests run.
 */
export function daytimeZone(now = new Date()): string {
  for (const zone of ZONES) {
    const hour = Number(new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" }).format(now));
    if (hour >= 4 && hour < 20) return zone;
  }
  return "UTC";
}

export { localDate };
