import { now, type RegistryContext } from './db.ts'

/**
 * Secrets every coordinator replica on one database shares (token secret, signing key,
 * cluster secret), by name. Values are written once and never changed here: rotation is an
 * operator's act (docs/operations.md).
 */
export class SharedSecrets {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /**
   * The stored value of `name`, storing `candidate` first when there is none. Concurrent
   * callers (replicas starting at once) all get the one value that was stored first;
   * `created` is true only for the caller whose candidate it is.
   */
  async getOrCreate(name: string, candidate: string): Promise<{ value: string; created: boolean }> {
    const inserted = await this.#ctx.db
      .insertInto('coordinator_secrets')
      .values({ name, value: candidate, created_at: now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst()
    const row = await this.#ctx.db.selectFrom('coordinator_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow()
    return { value: row.value, created: Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 }
  }
}
