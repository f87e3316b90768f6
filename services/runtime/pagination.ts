import { invalidArgument } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Keyset position: the sort key and id of the last row of the previous page. */
export interface Cursor {
  key: string;
  id: string;
}

export interface PageParams {
  limit: number;
  after: Cursor | undefined;
}

/**
 * Reads a PageRequest. Tokens are opaque to clients (base64url JSON of the last row's sort key
 * and id), so pages stay stable while rows are inserted, unlike OFFSET.
 */
export function readPage(page: { pageSize: number; pageToken: string } | undefined): PageParams {
  const size = page?.pageSize ?? 0;
  if (size < 0 || size > MAX_PAGE_SIZE) throw invalidArgument("page.page_size", `must be from 1 to ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE})`);
  const token = page?.pageToken ?? "";
  let after: Cursor | undefined;
  if (token) {
    try {
      const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<Cursor>;
      if (typeof parsed.key !== "string" || typeof parsed.id !== "string") throw new Error("bad token");
      after = { key: parsed.key, id: parsed.id };
    } catch {
      throw invalidArgument("page.page_token", "is not a token this service issued; pass next_page_token from the previous page unchanged");
    }
  }
  return { limit: size || DEFAULT_PAGE_SIZE, after };
}

/**
 * Given rows fetched with LIMIT limit+1, returns the page and the next token (empty at the end).
 */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (row: T) => Cursor): { items: T[]; nextPageToken: string } {
  if (rows.length <= limit) return { items: rows, nextPageToken: "" };
  const items = rows.slice(0, limit);
  const last = cursorOf(items[items.length - 1]!);
  return { items, nextPageToken: Buffer.from(JSON.stringify(last)).toString("base64url") };
}
