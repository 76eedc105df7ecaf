import type { Generated } from 'kysely'

/**
 * Row types of the registry tables, as Kysely sees them. Conventions shared by every
 * table: ids are text; timestamps are integer milliseconds since the Unix epoch;
 * booleans are integers 0/1; JSON values are stored as text. These choices keep one
 * schema and one set of queries valid on SQLite and PostgreSQL.
 */
export interface AccountsTable {
  id: string
  email: string
  email_normalized: string
  password_hash: string | null
  role: string
  quota_storage_bytes: number | null
  quota_upload_bytes: number | null
  created_at: number
  disabled: number
  /** Access tokens issued before this time (ms) are refused; 0 = none. */
  tokens_valid_after: Generated<number>
}

export interface ApiKeysTable {
  id: string
  account_id: string
  description: string
  prefix: string
  secret_hash: string
  scopes: string
  expires_at: number | null
  revoked_at: number | null
  created_at: number
  last_used_at: number | null
}

export interface EntriesTable {
  id: string
  account_id: string
  parent_id: string | null
  name: string
  kind: string
  cid: string | null
  size: number
  mtime: number
  version: number
  created_at: number
  updated_at: number
}

export interface PinsTable {
  cid: string
  replication_min: number
  replication_max: number
  name: string | null
  metadata: string
  size: number
  created_at: number
  updated_at: number
}

export interface PinRefsTable {
  cid: string
  ref_kind: string
  ref_id: string
  account_id: string
  created_at: number
}

export interface PinRequestsTable {
  requestid: string
  account_id: string
  cid: string
  name: string | null
  meta: string
  origins: string
  status: string
  created_at: number
  updated_at: number
}

export interface UploadsTable {
  id: string
  account_id: string
  status: string
  stage: string | null
  reason: string | null
  target_path: string
  name: string | null
  bytes: number
  cid: string | null
  created_at: number
  updated_at: number
  /** Added by 0006: the coordinator replica receiving the upload (null: before 0006). */
  owner_id: Generated<string | null>
}

export interface UsageRecordsTable {
  id: Generated<number>
  account_id: string
  kind: string
  amount: number
  ts: number
}

export interface NodesTable {
  id: string
  public_key: string
  name: string
  tags: string
  address: string | null
  status: string
  capacity: string
  last_seen: number | null
  revoked: number
  created_at: number
  /** Added by 0002: highest change seq the node acknowledged. */
  cursor: Generated<number>
  /** Added by 0002: the node's last report (JSON). */
  info: Generated<string>
  /** Added by 0002: 1 while the node is being drained. */
  draining: Generated<number>
  /** Added by 0004: the account the node's drop-folder files go to (admin-assigned). */
  ingest_account_id: Generated<string | null>
}

export interface AllocationsTable {
  cid: string
  node_id: string
  status: string
  attempts: number
  reason: string | null
  seq: number
  created_at: number
  updated_at: number
}

export interface ChangesTable {
  seq: Generated<number>
  node_id: string
  cid: string
  status: string
  ts: number
}

/** Signed-out access tokens, until their own expiry. */
export interface RevokedTokensTable {
  token_id: string
  account_id: string
  expires_at: number
}

export interface SessionsTable {
  id: string
  account_id: string
  token_hash: string
  previous_hash: string | null
  created_at: number
  rotated_at: number
  expires_at: number
}

export interface CoordinatorSecretsTable {
  name: string
  value: string
  created_at: number
}

export interface CoordinatorReplicasTable {
  id: string
  url: string | null
  started_at: number
  lease_expires_at: number
}

export interface StagedContentTable {
  cid: string
  replica_url: string
  staged_at: number
}

export interface RegistrySchema {
  accounts: AccountsTable
  api_keys: ApiKeysTable
  entries: EntriesTable
  pins: PinsTable
  pin_refs: PinRefsTable
  pin_requests: PinRequestsTable
  uploads: UploadsTable
  usage_records: UsageRecordsTable
  nodes: NodesTable
  allocations: AllocationsTable
  changes: ChangesTable
  revoked_tokens: RevokedTokensTable
  coordinator_secrets: CoordinatorSecretsTable
  coordinator_replicas: CoordinatorReplicasTable
  staged_content: StagedContentTable
  sessions: SessionsTable
}
