import { type Executor, now, type RegistryContext } from './db.ts'

/**
 * Records that the replica whose URL is `ctx.stagingUrl()` staged `cid`: the replica adding
 * a reference to content is the one that imported it (uploads, Kubo add, Pinning Service
 * fetches and ingests all import before they reference). Idempotent; a no-op without a URL.
 */
export async function recordStaged(trx: Executor, ctx: RegistryContext, cid: string): Promise<void> {
  const url = ctx.stagingUrl?.()
  if (url === undefined) return
  await trx
    .insertInto('staged_content')
    .values({ cid, replica_url: url, staged_at: now() })
    .onConflict((oc) => oc.columns(['cid', 'replica_url']).doNothing())
    .execute()
}

/**
 * Where staged DAGs are: per CID, the replicas (internal URLs) holding it in their staging
 * repos. Rows go with the pin (`releasePinIfUnreferenced`) or when a replica releases its
 * staged copy (`forget`).
 */
export class Staging {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** URLs of live replicas (lease not expired) that staged `cid`, `exceptUrl` left out. */
  async sources(cid: string, exceptUrl?: string): Promise<string[]> {
    const rows = await this.#ctx.db
      .selectFrom('staged_content as s')
      .innerJoin('coordinator_replicas as r', 'r.url', 's.replica_url')
      .select('s.replica_url')
      .distinct()
      .where('s.cid', '=', cid)
      .where('r.lease_expires_at', '>', now())
      .$if(exceptUrl !== undefined, (q) => q.where('s.replica_url', '!=', exceptUrl as string))
      .orderBy('s.replica_url')
      .execute()
    return rows.map((r) => r.replica_url)
  }

  /** The replica at `url` no longer stages `cid`. Idempotent. */
  async forget(cid: string, url: string): Promise<void> {
    await this.#ctx.db.deleteFrom('staged_content').where('cid', '=', cid).where('replica_url', '=', url).execute()
  }
}
