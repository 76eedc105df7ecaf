import type { Logger } from 'pino'
import type { Registry } from '../registry/index.ts'
import type { Repo } from '../repo/index.ts'
import type { Authenticator } from './auth/authenticator.ts'
import type { GuessLimiter } from './auth/guess-limiter.ts'
import type { RevocationCheck } from './auth/revocation-check.ts'
import type { TokenService } from './auth/token-service.ts'
import type { BillingService } from './billing/index.ts'
import type { ClusterService } from './cluster/index.ts'
import type { CoordinatorConfig } from './config/config-schema.ts'
import type { EventHub } from './events/event-hub.ts'
import type { ContentReleaser } from './files/release-content.ts'
import type { GatewayOrigin } from './gateway/index.ts'
import type { ContentSource } from './content-source/index.ts'
import type { ConcurrencyLimiter } from './limits/index.ts'
import type { CoordinatorMetrics } from './metrics/coordinator-metrics.ts'
import type { UploadService } from './uploads/upload-service.ts'
import type { UsageMeter } from './usage/index.ts'

/** Everything the coordinator's HTTP edge and services are built from; assembled once in main.ts. */
export interface CoordinatorComponents {
  config: CoordinatorConfig
  logger: Logger
  registry: Registry
  /** The origin repository (staging): uploads land here first and are served to storage nodes until released. */
  repo: Repo
  /** What every read path serves from: the origin repo, else storage nodes holding the DAG (verified). */
  content: ContentSource
  tokens: TokenService
  /** Sign-out and the cache of revocation state behind every token verification. */
  revocations: RevocationCheck
  authenticate: Authenticator
  /** Wrong passwords per account (by normalised email), shared by sign-in and password change. */
  passwordGuesses: GuessLimiter
  metrics: CoordinatorMetrics
  /** The upload pipeline (multipart and tus): receive → import into the repo → register. */
  uploads: UploadService
  /** Storage sampling and request counting; upload/download bytes are recorded by their routes. */
  usage: UsageMeter
  /** Statements from usage records and the price list. */
  billing: BillingService
  /** Unpins content the registry released and garbage-collects the origin repo (debounced). */
  releaseContent: ContentReleaser
  /** Storage nodes: control sessions, allocation, health, change feed, anti-entropy. */
  cluster: ClusterService
  /** Live upload and pin status events for `GET /api/v1/events`, filtered per account. */
  events: EventHub
  /** Which requests are on the portal's origin (user content sandboxed) and where content links point. */
  gatewayOrigin: GatewayOrigin
  /** Directory listings, CAR and tar exports in flight per account (`limits.heavyReadsPerAccount`). */
  heavyReads: ConcurrencyLimiter
}
