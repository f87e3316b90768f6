import type { Transaction } from "sequelize";
import type { Database, Sql } from "../../runtime/db/index.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import { BinaryArrayWriter, ElementType } from "./binary-array.js";
import { canonicalJson, chainOf, GENESIS_HASH, PLATFORM_CHAIN, hashBody, linkHash, type ChainRow } from "./canonical.js";

/** An audit row before the chain gives it an id, a time and its hashes. */
export type NewAuditRow = Omit<ChainRow, "id" | "createdAt">;

export interface AppendResult {
  inserted: number;
  /** Event ids already stored (redeliveries, republished events). */
  duplicates: number;
}

/** How far back a copy of an event may have been stored: the AUDIT stream's retention, plus a day. */
const REDELIVERY_WINDOW_MS = (STREAMS.audit.maxAgeMs ?? 7 * 86_400_000) + 86_400_000;

interface Head {
  chain: string;
  last_id: string;
  last_hash: string;
  last_created_at: Date;
}

/** What the look-up before the lock found. */
interface Looked {
  /** Each chain's last id in the look-up's snapshot. */
  lastIds: Map<string, string>;
  /** The batch's event ids stored by then. */
  stored: Set<string>;
}

/** What can be computed for a batch before its chains are locked. */
interface Prepared {
  rows: NewAuditRow[];
  chains: string[];
  bodies: string[];
  /** The event ids as a uuid[] parameter: the stored-id lookup's and the insert's first column. */
  eventIds: Buffer;
  /** The columns that do not depend on the chain, as array parameters. */
  columns: (Buffer | string)[];
}

const COLUMNS = `event_id, organization_id, actor_type, actor_id, action, entity_type, entity_id, outcome,
  ip_address, user_agent, detail, service, occurred_at, id, prev_hash, hash, created_at`;

/**
 * Appends rows to the per-organisation hash chains in one transaction: locks the heads of the
 * chains involved, skips event ids already stored, gives each row the next id and links it to its
 * chain's previous row, and inserts them all with one multi-row statement. Nothing of a batch
 * is visible, or acknowledged upstream, until all of it has committed. The chains' locks make
 * batches take turns, so as little as possible happens under them: the rows are encoded and
 * their stored event ids looked up before, and under the lock only what committed meanwhile is
 * checked (four round trips: lock, check and ids, insert, commit).
 */
export class ChainWriter {
  constructor(private readonly db: Database, private readonly sql: Sql) {}

  async append(rows: readonly NewAuditRow[]): Promise<AppendResult> {
    if (rows.length === 0) return { inserted: 0, duplicates: 0 };
    // Arrival order decides the chain order; the first copy of a repeated event id wins.
    const seen = new Set<string>();
    const unique = rows.filter((row) => !seen.has(row.eventId) && Boolean(seen.add(row.eventId)));
    let prepared = prepare(unique);
    const looked = await this.lookUp(prepared);
    return this.db.withSystem(async (tx) => {
      const { heads, storedSince, ids } = await this.lock(tx, prepared, looked);
      const stored = new Set([...looked.stored, ...storedSince]);
      const fresh = stored.size === 0 ? prepared.rows : prepared.rows.filter((row) => !stored.has(row.eventId));
      if (fresh.length === 0) return { inserted: 0, duplicates: rows.length };
      if (fresh.length < unique.length) prepared = prepare(fresh);
      await this.link(tx, prepared, heads, ids);
      return { inserted: fresh.length, duplicates: rows.length - fresh.length };
    });
  }

  /**
   * Before the lock, so that batches overlap it: the batch's event ids already stored, and where
   * each chain's head was in that same snapshot. Creates missing heads. Copies of an event are
   * stored only under their chain's lock, so whatever this missed was committed to a chain after
   * its head as seen here. A copy can only arrive while the AUDIT stream still holds the event, so
   * looking back that far (plus a day for clocks) is enough, and only the newest partitions are
   * searched.
   */
  private async lookUp({ chains, eventIds }: Prepared): Promise<Looked> {
    const found = await this.db.systemStatement<{ chain: string | null; last_id: string | null; event_id: string | null }>(
      `WITH created AS (INSERT INTO audit.chain_heads (chain, last_hash) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING)
       SELECT chain, last_id::text, NULL AS event_id FROM audit.chain_heads WHERE chain = ANY($1::text[])
       UNION ALL
       SELECT NULL, NULL, stored_event_ids::text FROM audit.stored_event_ids($3::uuid[], now() - make_interval(secs => $4::float8 / 1000))`,
      [pgArray([...new Set(chains)].sort()), GENESIS_HASH, eventIds, REDELIVERY_WINDOW_MS],
    );
    // A head created by this statement is not in its snapshot: its chain had no rows (last id 0).
    const lastIds = new Map<string, string>();
    const stored = new Set<string>();
    for (const row of found) {
      if (row.chain !== null) lastIds.set(row.chain, row.last_id!);
      else stored.add(row.event_id!);
    }
    return { lastIds, stored };
  }

  /**
   * Locks the heads of the batch's chains in a fixed order (so concurrent batches and replicas
   * wait for each other instead of deadlocking). Then, in a statement of its own (one started
   * before the lock was granted would not see what committed while it waited): the batch's event
   * ids committed to those chains since the look-up, found among the few rows after each head as
   * it was then, through the (organisation, id) index; and ids for the rows, taken under the lock
   * so that they ascend along each chain.
   */
  private async lock(tx: Transaction, batch: Prepared, looked: Looked): Promise<{ heads: Head[]; storedSince: string[]; ids: string[] }> {
    const chains = [...new Set(batch.chains)].sort();
    const heads = await this.sql.rows<Head>(
      tx,
      `SELECT chain, last_id::text, last_hash, last_created_at FROM audit.chain_heads WHERE chain = ANY($1::text[]) ORDER BY chain FOR UPDATE`,
      [pgArray(chains)],
    );
    const { stored, ids } = (await this.sql.row<{ stored: string | null; ids: string }>(
      tx,
      `SELECT
         (SELECT string_agg(l.event_id::text, ',') FROM unnest($1::uuid[], $2::bigint[]) AS c (organization_id, after_id)
          CROSS JOIN LATERAL (
            SELECT event_id FROM audit.audit_logs WHERE organization_id = c.organization_id AND id > c.after_id
            UNION ALL
            SELECT event_id FROM audit.audit_logs WHERE c.organization_id IS NULL AND organization_id IS NULL AND id > c.after_id
          ) AS l
          WHERE l.event_id IN (SELECT unnest($3::uuid[]))) AS stored,
         (SELECT string_agg(id::text, ',' ORDER BY id) FROM (SELECT nextval('audit.audit_logs_id_seq') AS id FROM generate_series(1, $4::int)) AS s) AS ids`,
      [
        pgArray(chains.map((chain) => (chain === PLATFORM_CHAIN ? null : chain))),
        pgArray(chains.map((chain) => looked.lastIds.get(chain) ?? "0")),
        batch.eventIds,
        batch.rows.length,
      ],
    ))!;
    return { heads, storedSince: stored ? stored.split(",") : [], ids: ids.split(",") };
  }

  /** Links the rows to their chains with ids taken under the lock (more than needed if some were stored), inserts them, moves the heads. */
  private async link(tx: Transaction, batch: Prepared, heads: Head[], ids: string[]): Promise<void> {
    const now = Date.now();
    const state = new Map(heads.map((head) => [head.chain, {
      hash: head.last_hash,
      id: head.last_id,
      // Times never go backwards along a chain (clocks of replicas may differ), so retention by
      // time always removes a prefix of it.
      createdAt: new Date(Math.max(now, head.last_created_at.getTime())),
      count: 0,
    }]));
    const n = batch.rows.length;
    const [idCol, prevCol, hashCol, createdCol] = [
      new BinaryArrayWriter(ElementType.int8, n, 8), new BinaryArrayWriter(ElementType.text, n, 64),
      new BinaryArrayWriter(ElementType.text, n, 64), new BinaryArrayWriter(ElementType.timestamptz, n, 8),
    ];
    for (let i = 0; i < n; i++) {
      const head = state.get(batch.chains[i]!)!;
      const id = ids[i]!;
      const numericId = BigInt(id);
      prevCol.text(head.hash);
      head.hash = linkHash(head.hash, numericId, batch.bodies[i]!, head.createdAt);
      head.id = id;
      head.count++;
      idCol.int8(numericId);
      hashCol.text(head.hash);
      createdCol.timestamptz(head.createdAt);
    }
    const moved = [...state.entries()].filter(([, head]) => head.count > 0);
    // The heads move in the same statement (one round trip less while the chains are locked).
    await this.sql.execute(
      tx,
      `WITH moved AS (
         UPDATE audit.chain_heads h SET last_id = u.last_id, last_hash = u.last_hash, last_created_at = u.created_at, row_count = h.row_count + u.n
         FROM unnest($18::text[], $19::bigint[], $20::text[], $21::timestamptz[], $22::bigint[]) AS u (chain, last_id, last_hash, created_at, n)
         WHERE h.chain = u.chain)
       INSERT INTO audit.audit_logs (${COLUMNS})
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
         $9::inet[], $10::text[], $11::jsonb[], $12::text[], $13::timestamptz[], $14::bigint[], $15::text[], $16::text[], $17::timestamptz[])`,
      [
        ...batch.columns, idCol.finish(), prevCol.finish(), hashCol.finish(), createdCol.finish(),
        moved.map(([chain]) => chain), moved.map(([, h]) => h.id), moved.map(([, h]) => h.hash), moved.map(([, h]) => h.createdAt.toISOString()), moved.map(([, h]) => h.count),
      ],
    );
  }
}

/**
 * The chain-independent columns as binary arrays (no escaping here, no literal parsing in
 * Postgres), except inet, which stays an array literal (canonical addresses need no escaping).
 * The detail's canonical JSON serves both the hash and the jsonb column.
 */
function prepare(rows: NewAuditRow[]): Prepared {
  const n = rows.length;
  const text = (bytesPerElement: number) => new BinaryArrayWriter(ElementType.text, n, bytesPerElement);
  const [eventIds, organizationIds] = [new BinaryArrayWriter(ElementType.uuid, n), new BinaryArrayWriter(ElementType.uuid, n)];
  const [actorTypes, actorIds, actions, entityTypes, entityIds, outcomes, userAgents, services] = [text(8), text(36), text(16), text(8), text(36), text(8), text(32), text(8)];
  const details = new BinaryArrayWriter(ElementType.jsonb, n, 64);
  const occurredAts = new BinaryArrayWriter(ElementType.timestamptz, n, 8);
  const ips = new Array<string | null>(n);
  const chains = new Array<string>(n);
  const bodies = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const detail = canonicalJson(row.detail);
    chains[i] = chainOf(row.organizationId);
    bodies[i] = hashBody(row, detail);
    eventIds.uuid(row.eventId);
    organizationIds.uuid(row.organizationId);
    actorTypes.text(row.actorType);
    actorIds.text(row.actorId);
    actions.text(row.action);
    entityTypes.text(row.entityType);
    entityIds.text(row.entityId);
    outcomes.text(row.outcome);
    ips[i] = row.ip;
    userAgents.text(row.userAgent);
    details.jsonb(detail);
    services.text(row.service);
    occurredAts.timestamptz(row.occurredAt);
  }
  const eventIdArray = eventIds.finish();
  return {
    rows,
    chains,
    bodies,
    eventIds: eventIdArray,
    columns: [
      eventIdArray, organizationIds.finish(), actorTypes.finish(), actorIds.finish(), actions.finish(), entityTypes.finish(), entityIds.finish(),
      outcomes.finish(), pgArray(ips), userAgents.finish(), details.finish(), services.finish(), occurredAts.finish(),
    ],
  };
}

/** Elements that need escaping inside a quoted array element. */
const ARRAY_SPECIAL = /["\\]/;

/** A Postgres array literal of text elements (NULL for null), as the server parses it for any element type. */
function pgArray(values: readonly (string | null)[]): string {
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) out += ",";
    // Most values (ids, times, hashes, plain text) need no escaping: test once, replace rarely.
    if (value === null || value === undefined) out += "NULL";
    else out += ARRAY_SPECIAL.test(value) ? `"${value.replace(/["\\]/g, "\\$&")}"` : `"${value}"`;
  }
  return `${out}}`;
}
