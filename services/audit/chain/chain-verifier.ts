import type { Transaction } from "sequelize";
import type { Database, Sql } from "../../runtime/db/index.js";
import { chainClause, inChainScope } from "./audit-log-store.js";
import { chainOf, GENESIS_HASH, rowHash } from "./canonical.js";
import { chainRowOf, STORED_COLUMNS, type StoredRow } from "./stored-row.js";

export interface TimeBounds {
  start?: Date;
  end?: Date;
}

export interface Verification {
  ok: boolean;
  rowsChecked: number;
  firstBrokenId: bigint;
  reason: string;
}

const PAGE = 20_000;

/**
 * Recomputes an organisation's chain over a time range, oldest first, in pages (each its own
 * short transaction). The first row must link to its stored predecessor (or the anchor left by
 * retention, or the genesis hash); every row must hash to what it stores and link to the row
 * before. Verifying up to "now" also compares the last row with the chain head, which catches
 * rows removed from the end.
 */
export class ChainVerifier {
  constructor(private readonly db: Database, private readonly sql: Sql) {}

  /** organizationId null: the platform-level chain. */
  async verify(organizationId: string | null, bounds: TimeBounds): Promise<Verification> {
    let checked = 0;
    let expected: { hash: string; from: string } | undefined;
    type Page = { rows: StoredRow[]; first: { hash: string; from: string } | undefined };
    const fetch = (after: string | undefined): Promise<Page> =>
      inChainScope(this.db, organizationId, async (tx) => {
        const rows = await this.page(tx, organizationId, bounds, after);
        const first = !after && rows[0] ? await this.predecessor(tx, organizationId, rows[0].id) : undefined;
        return { rows, first };
      });
    let next: Promise<Page> | undefined = fetch(undefined);
    while (next) {
      const { rows, first }: Page = await next;
      // The database reads the next page while this one is hashed.
      next = rows.length === PAGE ? fetch(rows[rows.length - 1]!.id) : undefined;
      expected ??= first;
      for (const row of rows) {
        if (row.prev_hash !== expected!.hash) {
          await next?.catch(() => undefined);
          return broken(checked, row.id, `prev_hash does not match ${expected!.from}`);
        }
        if (rowHash(row.prev_hash, chainRowOf(row)) !== row.hash) {
          await next?.catch(() => undefined);
          return broken(checked, row.id, "hash mismatch: the row's content was changed after it was written");
        }
        checked++;
        expected = { hash: row.hash, from: `row ${row.id}` };
      }
    }
    if (!bounds.end) {
      const tail = await this.checkTail(organizationId);
      if (tail) return broken(checked, tail.id, tail.reason);
    }
    return { ok: true, rowsChecked: checked, firstBrokenId: 0n, reason: "" };
  }

  private page(tx: Transaction, organizationId: string | null, bounds: TimeBounds, after: string | undefined): Promise<StoredRow[]> {
    const bind: unknown[] = [];
    const where = [chainClause(organizationId, bind)];
    if (bounds.start) where.push(`created_at >= $${bind.push(bounds.start.toISOString())}`);
    if (bounds.end) where.push(`created_at < $${bind.push(bounds.end.toISOString())}`);
    if (after) where.push(`id > $${bind.push(after)}`);
    return this.sql.rows<StoredRow>(tx, `SELECT ${STORED_COLUMNS} FROM audit.audit_logs WHERE ${where.join(" AND ")} ORDER BY audit_logs.id LIMIT ${PAGE}`, bind);
  }

  /** What the row with this id must link to. */
  private async predecessor(tx: Transaction, organizationId: string | null, id: string): Promise<{ hash: string; from: string }> {
    const bind: unknown[] = [id];
    const previous = await this.sql.row<{ id: string; hash: string }>(
      tx,
      `SELECT id::text, hash FROM audit.audit_logs WHERE ${chainClause(organizationId, bind)} AND id < $1 ORDER BY audit_logs.id DESC LIMIT 1`,
      bind,
    );
    if (previous) return { hash: previous.hash, from: `row ${previous.id}` };
    const anchor = await this.sql.row<{ anchor_id: string; anchor_hash: string }>(
      tx,
      `SELECT anchor_id::text, anchor_hash FROM audit.chain_anchors WHERE chain = $1 AND anchor_id < $2 ORDER BY chain_anchors.anchor_id DESC LIMIT 1`,
      [chainOf(organizationId), id],
    );
    if (anchor) return { hash: anchor.anchor_hash, from: `the retention anchor at row ${anchor.anchor_id}` };
    return { hash: GENESIS_HASH, from: "the genesis hash (it is the chain's first row)" };
  }

  /** The chain head's row must still be there, unchanged; otherwise rows were removed from the end. */
  private async checkTail(organizationId: string | null): Promise<{ id: string; reason: string } | undefined> {
    const chain = chainOf(organizationId);
    return inChainScope(this.db, organizationId, async (tx) => {
      const head = await this.sql.row<{ last_id: string; last_hash: string }>(tx, `SELECT last_id::text, last_hash FROM audit.chain_heads WHERE chain = $1`, [chain]);
      if (!head || head.last_id === "0") return undefined;
      const bind: unknown[] = [head.last_id];
      const last = await this.sql.row<{ hash: string }>(tx, `SELECT hash FROM audit.audit_logs WHERE ${chainClause(organizationId, bind)} AND id = $1`, bind);
      if (last?.hash === head.last_hash) return undefined;
      if (!last && (await this.sql.row(tx, `SELECT 1 FROM audit.chain_anchors WHERE chain = $1 AND anchor_id = $2`, [chain, head.last_id]))) {
        return undefined; // retention removed the whole chain, anchoring it
      }
      return { id: head.last_id, reason: `row ${head.last_id}, the chain's last, is missing or differs from the chain head: rows were removed or replaced at the end` };
    });
  }
}

function broken(checked: number, id: string, reason: string): Verification {
  return { ok: false, rowsChecked: checked, firstBrokenId: BigInt(id), reason };
}
