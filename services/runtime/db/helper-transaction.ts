import type { Client } from "pg";
import { Transaction, type Sequelize } from "sequelize";
import { ORG_SETTING } from "./rls.js";

/**
 * The transaction of withTenant/withSystem. It opens with BEGIN and both transaction-local
 * settings in one simple-protocol round trip, where Sequelize would send START TRANSACTION and
 * then the settings: one round trip fewer on every helper call. Commit, rollback and afterCommit
 * hooks are Sequelize's.
 */
export class HelperTransaction extends Transaction {
  private readonly opening: string;

  /**
   * `role` is one of the runtime roles and `organizationId` a validated UUID (or "" for none).
   * Both become SQL text, so anything that could close their quotes is refused here as well.
   */
  constructor(sequelize: Sequelize, role: string, organizationId: string) {
    super(sequelize, {});
    if (!/^[a-z_]+$/.test(role) || !/^[0-9a-f-]*$/i.test(organizationId)) {
      throw new Error(`refusing to open a transaction for role ${JSON.stringify(role)} and organisation ${JSON.stringify(organizationId)}`);
    }
    this.opening = `BEGIN; SELECT set_config('role', '${role}', true), set_config('${ORG_SETTING}', '${organizationId}', true)`;
  }

  /** Takes a connection from the pool and opens the transaction on it (rolled back if that fails). */
  start(): Promise<void> {
    return (this as unknown as { prepareEnvironment(useCls: boolean): Promise<void> }).prepareEnvironment(false);
  }

  /** Replaces Sequelize's START TRANSACTION: prepareEnvironment calls it once the connection is taken. */
  async begin(): Promise<void> {
    await (this as unknown as { connection: Client }).connection.query(this.opening);
  }
}
