/** Plenty for the organisations one replica sees; past it the memo starts again. */
const MAX_ENTRIES = 10_000;

/**
 * Organisation ids by code (case-insensitive), remembered so that a login can read the
 * organisation and the user in one tenant transaction. An id never changes, but its organisation
 * can be deleted and the code given to a new one: a user of an entry re-reads the organisation by
 * id and checks its code, so a stale entry costs a second lookup and is never believed.
 */
export class OrganizationIds {
  private readonly ids = new Map<string, string>();

  get(code: string): string | undefined {
    return this.ids.get(code.toLowerCase());
  }

  remember(code: string, id: string): void {
    if (this.ids.size >= MAX_ENTRIES) this.ids.clear();
    this.ids.set(code.toLowerCase(), id);
  }

  forget(code: string): void {
    this.ids.delete(code.toLowerCase());
  }
}
