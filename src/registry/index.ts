export { type Account, Accounts, type CreateAccountInput, normalizeEmail, type Role } from './accounts.ts'
export {
  type Allocation,
  type AllocationChange,
  type AllocationStatus,
  ALLOCATION_STATUSES,
  Allocations,
} from './allocations.ts'
export { type ApiKey, API_KEY_SECRET_PREFIX, ApiKeys, hashApiKeySecret, type Scope } from './api-keys.ts'
export { type DialectName, parseRegistryUrl } from './db.ts'
export {
  type AddContentInput,
  Entries,
  type Entry,
  type EntryKind,
  type ListOptions,
  type ListSort,
  type RemoveResult,
  type SearchResult,
} from './entries.ts'
export { type NodeStatus, Nodes, type StorageNode } from './nodes.ts'
export { hashPassword, verifyPasswordHash } from './passwords.ts'
export { formatPath, LIBRARY, MAX_NAME_BYTES, parsePath, validateName } from './paths.ts'
export { type NameMatch, type PinRequest, type PinRequestFilter, type PinRequestInput, PinRequests, type PinRequestStatus } from './pin-requests.ts'
export { DEFAULT_REPLICATION, type Pin, type PinOptions, type PinReference, Pins } from './pins.ts'
export { type OpenRegistryOptions, openRegistry, type Registry } from './registry.ts'
export { REFRESH_TOKEN_PREFIX, type RenewedSession, Sessions } from './sessions.ts'
export { type TokenState, TokenRevocations } from './token-revocations.ts'
export { type Upload, Uploads, type UploadStatus } from './uploads.ts'
export { Usage, type UsageBucket, USAGE_KINDS, type UsageKind, type UsageTotals } from './usage.ts'
export {
  MAX_NOTIFICATION_BYTES,
  type Notifications,
  type NotificationTopic,
  inProcessNotifications,
  openNotifications,
  postgresNotifications,
} from './notifications.ts'
export { Staging } from './staging.ts'
