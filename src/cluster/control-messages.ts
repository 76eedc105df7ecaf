import Type, { type Static, type TSchema } from 'typebox'
import Value from 'typebox/value'
import { PinfoldError } from '../core/errors.ts'

/**
 * The control channel between a storage node and the coordinator: JSON text frames over
 * one WebSocket (`/api/v1/nodes/connect`), opened by the node. Order of a session:
 *
 * 1. coordinator → `challenge` (a fresh nonce)
 * 2. node → `join`: its Ed25519 public key, a signature of the challenge with its private
 *    key (proves the identity) and an HMAC of the challenge under the cluster secret
 *    (proves the secret — the secret itself never crosses the wire)
 * 3. coordinator → `welcome` (with its own HMAC over the node's nonce, so the node knows it
 *    talks to a coordinator of its cluster, and a peer token for the coordinator's gateway;
 *    tokens for peers come per source with `sources`) or `refused` and close
 * 4. then, in any order: `changes`/`ack` (the allocation feed, resumed from the node's
 *    cursor), `report` (capacity, every few seconds), `status` (executor outcomes, batched,
 *    from the node's durable outbox; `status-ack` once recorded),
 *    `sync-*` (anti-entropy rounds), `locate`/`sources`, `ingested` (drop-folder files).
 *    The gateway URL a node claims in `join`/`report` is handed to others only once the
 *    coordinator verified it (cluster/gateway-identity.ts).
 *
 * Every frame is validated against these schemas on receipt; an invalid frame closes the
 * session with ERR_INVALID_CONTROL_MESSAGE.
 */
export const CONTROL_PROTOCOL_VERSION = 1

const Base64 = Type.String({ maxLength: 1_400_000, pattern: '^[A-Za-z0-9+/_=-]*$' })
const Cid = Type.String({ minLength: 2, maxLength: 200 })
const Url = Type.String({ pattern: '^https?://', maxLength: 2048 })

export const PIN_STATUSES = ['queued', 'pinning', 'pinned', 'failed', 'unpinning', 'unpinned'] as const
export type PinStatus = (typeof PIN_STATUSES)[number]

export const StoragePathReport = Type.Object({
  id: Type.String({ maxLength: 64 }),
  weight: Type.Integer({ minimum: 0 }),
  maxSize: Type.Number({ minimum: 0 }),
  used: Type.Number({ minimum: 0 }),
  available: Type.Number({ minimum: 0 }),
})

export const ChallengeMessage = Type.Object({
  type: Type.Literal('challenge'),
  protocol: Type.Integer(),
  nonce: Base64,
})

export const JoinMessage = Type.Object({
  type: Type.Literal('join'),
  protocol: Type.Integer(),
  nodeId: Type.String({ minLength: 8, maxLength: 128 }),
  publicKey: Base64,
  signature: Base64,
  proof: Base64,
  nodeNonce: Base64,
  name: Type.String({ maxLength: 200 }),
  version: Type.String({ maxLength: 64 }),
  gatewayUrl: Type.Optional(Url),
  tags: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 200 })),
  /** Highest change sequence number the node has applied; the feed resumes after it. */
  cursor: Type.Integer({ minimum: 0 }),
})

export const WelcomeMessage = Type.Object({
  type: Type.Literal('welcome'),
  nodeId: Type.String(),
  coordinatorProof: Base64,
  /** The coordinator's Ed25519 public key: peer tokens are signed with it. */
  coordinatorKey: Base64,
  /** Presented as `Authorization: Bearer` to the coordinator's /ipfs/ (audience: the coordinator; peers refuse it). */
  peerToken: Type.String({ maxLength: 4096 }),
  peerTokenExpiresAt: Type.Integer(),
  latestSeq: Type.Integer({ minimum: 0 }),
})

/** A fresh peer token before the old one expires (revoked nodes get none). */
export const PeerTokenMessage = Type.Object({
  type: Type.Literal('peer-token'),
  peerToken: Type.String({ maxLength: 4096 }),
  peerTokenExpiresAt: Type.Integer(),
})

export const RefusedMessage = Type.Object({
  type: Type.Literal('refused'),
  code: Type.String(),
  message: Type.String(),
})

export const Change = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  cid: Cid,
  action: Type.Enum(['pin', 'unpin']),
  /** DAG size in bytes when known (for capacity decisions on the node). */
  size: Type.Optional(Type.Number({ minimum: 0 })),
  name: Type.Optional(Type.String({ maxLength: 255 })),
})

export const ChangesMessage = Type.Object({
  type: Type.Literal('changes'),
  changes: Type.Array(Change, { maxItems: 10_000 }),
  /** True when more changes follow right away (catch-up in pages). */
  more: Type.Boolean(),
})

export const AckMessage = Type.Object({ type: Type.Literal('ack'), seq: Type.Integer({ minimum: 0 }) })

export const ReportMessage = Type.Object({
  type: Type.Literal('report'),
  storage: Type.Array(StoragePathReport, { maxItems: 256 }),
  pins: Type.Integer({ minimum: 0 }),
  queued: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  version: Type.String({ maxLength: 64 }),
  gatewayUrl: Type.Optional(Url),
})

export const StatusUpdate = Type.Object({
  cid: Cid,
  status: Type.Enum([...PIN_STATUSES]),
  attempts: Type.Integer({ minimum: 0 }),
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
})

export const StatusMessage = Type.Object({
  type: Type.Literal('status'),
  /** Batch id: the coordinator answers `status-ack` with it once every update is recorded. */
  id: Type.Optional(Type.Integer({ minimum: 0 })),
  updates: Type.Array(StatusUpdate, { maxItems: 10_000 }),
})

/** Coordinator → node: the `status` batch `id` is recorded; the node may drop it from its outbox. */
export const StatusAckMessage = Type.Object({ type: Type.Literal('status-ack'), id: Type.Integer({ minimum: 0 }) })

/** Coordinator asks the node to run anti-entropy now (schedule, on connect, on demand). */
export const SyncRequestMessage = Type.Object({ type: Type.Literal('sync-request'), reason: Type.String({ maxLength: 200 }) })

/**
 * One reconciliation round: `payload` is a src/sync message (base64). `scope` (node →
 * coordinator) names the coordinator's set: `desired` (default; the node's allocations
 * asking for a pin) or `pinned` (those it records as pinned: the status round).
 */
export const SyncMessage = Type.Object({
  type: Type.Literal('sync'),
  session: Type.String({ maxLength: 64 }),
  scope: Type.Optional(Type.Enum(['desired', 'pinned'])),
  payload: Base64,
})

export const SyncDoneMessage = Type.Object({
  type: Type.Literal('sync-done'),
  session: Type.String({ maxLength: 64 }),
  need: Type.Integer({ minimum: 0 }),
  have: Type.Integer({ minimum: 0 }),
})

/** Node asks where a DAG can be fetched from. */
export const LocateMessage = Type.Object({ type: Type.Literal('locate'), cids: Type.Array(Cid, { maxItems: 1000 }) })

/**
 * Coordinator → node: the answer to `locate`. Only gateway URLs the coordinator verified are
 * named. `tokens` holds, per source URL, the peer token to present there: its audience is
 * that source (the node's id, or the coordinator), so it is refused anywhere else. A URL
 * without a token gets no token at all (never the channel's own, which is for the coordinator).
 */
export const SourcesMessage = Type.Object({
  type: Type.Literal('sources'),
  sources: Type.Array(Type.Object({ cid: Cid, urls: Type.Array(Url, { maxItems: 32 }) }), { maxItems: 1000 }),
  tokens: Type.Optional(Type.Record(Type.String({ maxLength: 2048 }), Type.String({ maxLength: 4096 }), { maxProperties: 10_000 })),
})

/**
 * Node → coordinator: a file dropped into the node's `incoming/` folder was imported and
 * pinned on the node (then moved to `indexed/<path>`). The coordinator records it under
 * `path` (relative to `incoming/`, `/`-separated, newest `mtime` wins on lookups) for
 * `account` (an email; the coordinator's default ingest account when absent) and
 * replicates it like an upload — keeping this node's copy allocated. Sent once per file;
 * a node re-sends the ones not yet sent after a reconnect, so handling must be idempotent
 * (same path + cid + mtime = same file).
 */
export const IngestedMessage = Type.Object({
  type: Type.Literal('ingested'),
  path: Type.String({ minLength: 1, maxLength: 4096 }),
  cid: Cid,
  /** File size in bytes. */
  size: Type.Number({ minimum: 0 }),
  /** Modification time, epoch milliseconds. */
  mtime: Type.Number({ minimum: 0 }),
  account: Type.Optional(Type.String({ maxLength: 320 })),
})

/**
 * Coordinator → node: these nodes are revoked; refuse their peer tokens from now on
 * (they are otherwise valid until they expire). Sent to every connected node at each
 * revocation, and after `welcome` with every revoked node (so a node that was away learns too).
 */
export const RevokedPeersMessage = Type.Object({
  type: Type.Literal('revoked-peers'),
  nodeIds: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100_000 }),
})

const NodeToCoordinator = [
  JoinMessage,
  AckMessage,
  ReportMessage,
  StatusMessage,
  SyncMessage,
  SyncDoneMessage,
  LocateMessage,
  IngestedMessage,
]
const CoordinatorToNode = [
  ChallengeMessage,
  WelcomeMessage,
  RefusedMessage,
  PeerTokenMessage,
  ChangesMessage,
  SyncRequestMessage,
  SyncMessage,
  SourcesMessage,
  StatusAckMessage,
  RevokedPeersMessage,
]

export type NodeMessage = Static<(typeof NodeToCoordinator)[number]>
export type CoordinatorMessage = Static<(typeof CoordinatorToNode)[number]>
export type ChangeEntry = Static<typeof Change>
export type StatusEntry = Static<typeof StatusUpdate>
export type StoragePathReportEntry = Static<typeof StoragePathReport>

export class InvalidControlMessageError extends PinfoldError {
  constructor(reason: string) {
    super('ERR_INVALID_CONTROL_MESSAGE', `invalid control message: ${reason}`, { userError: true })
  }
}

/** Max bytes of one frame: bounds what a peer can make us parse. */
export const MAX_CONTROL_FRAME_BYTES = 4 * 1024 * 1024

function parseWith<T>(schemas: TSchema[], frame: string | Uint8Array): T {
  const text = typeof frame === 'string' ? frame : new TextDecoder().decode(frame)
  if (text.length > MAX_CONTROL_FRAME_BYTES) throw new InvalidControlMessageError('frame too large')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidControlMessageError('not JSON')
  }
  const type = (value as { type?: unknown } | null)?.type
  const schema = schemas.find((s) => (s as { properties: { type: { const: string } } }).properties.type.const === type)
  if (!schema) throw new InvalidControlMessageError(`unknown type ${JSON.stringify(type)}`)
  if (!Value.Check(schema, value)) {
    const first = [...Value.Errors(schema, value)][0]
    throw new InvalidControlMessageError(`${String(type)}${first?.instancePath ?? ''}: ${first?.message ?? 'invalid'}`)
  }
  return value as T
}

export const parseNodeMessage = (frame: string | Uint8Array): NodeMessage => parseWith<NodeMessage>(NodeToCoordinator, frame)
export const parseCoordinatorMessage = (frame: string | Uint8Array): CoordinatorMessage =>
  parseWith<CoordinatorMessage>(CoordinatorToNode, frame)
