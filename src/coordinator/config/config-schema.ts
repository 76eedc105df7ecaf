import Type, { type Static } from 'typebox'

const Bytes = (description: string, defaultValue: number) =>
  Type.Integer({ minimum: 0, description: `${description} (bytes; 0 = unlimited)`, default: defaultValue })

/**
 * The coordinator's configuration. Every key can come from the config file, from an
 * environment variable (`PINFOLD_` + the key path in SCREAMING_SNAKE_CASE, e.g.
 * `billing.minimumCharge` → `PINFOLD_BILLING_MINIMUM_CHARGE`) or from a flag; flags win
 * over the environment, which wins over the file.
 */
export const CoordinatorConfigSchema = Type.Object(
  {
    listen: Type.String({ pattern: '^[^\\s:]+:\\d{1,5}$', description: 'host:port to listen on', default: '127.0.0.1:8080' }),
    publicUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'URL clients and nodes use to reach this coordinator' })),
    dataDir: Type.String({ minLength: 1, description: 'where state lives by default', default: './pinfold-data' }),
    db: Type.Optional(Type.String({ pattern: '^(sqlite:|postgres(ql)?://)', description: 'sqlite:PATH or postgres://… (default sqlite:<dataDir>/registry.sqlite)' })),
    repo: Type.Optional(Type.String({ minLength: 1, description: 'origin repository directory (default <dataDir>/repo)' })),
    dbStartTimeoutSeconds: Type.Number({
      minimum: 0,
      maximum: 86400,
      default: 60,
      description: 'at start, how long to keep retrying a database that is not reachable yet (0 = fail at once)',
    }),
    shutdownDrainSeconds: Type.Number({
      minimum: 0,
      maximum: 3600,
      default: 10,
      description: 'at SIGTERM/SIGINT, how long requests in flight may finish before their connections are cut',
    }),
    logLevel: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
    auth: Type.Object(
      {
        tokenTtlSeconds: Type.Integer({ minimum: 30, maximum: 30 * 86400, default: 3600, description: 'access token lifetime' }),
        sessionTtlDays: Type.Number({
          minimum: 0.01,
          maximum: 365,
          default: 14,
          description: 'a portal session (refresh cookie) ends after this long unused; every renewal restarts it',
        }),
        tokenSecret: Type.Optional(Type.String({ minLength: 32, description: 'HMAC secret for access tokens (generated and stored in the registry, shared by every replica, when absent)' })),
        tokenSecretFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding auth.tokenSecret (keeps it out of ps and the environment)' })),
        rateLimitPerMinute: Type.Integer({ minimum: 1, default: 6000, description: 'requests per minute per API key or address' }),
        failedLoginDelayMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 500, description: 'pause after a failed login' }),
        loginAttemptsPerMinute: Type.Integer({ minimum: 1, default: 30, description: 'sign-in attempts (`POST /auth/token`) per address per minute' }),
        passwordFailuresPerAccount: Type.Integer({
          minimum: 1,
          default: 10,
          description: 'wrong passwords for one account (sign-in from any address, or PATCH /account) before its password checks are refused for the window',
        }),
        passwordFailureWindowSeconds: Type.Number({ minimum: 0.1, maximum: 86400, default: 900, description: 'see passwordFailuresPerAccount' }),
        revocationCheckSeconds: Type.Number({
          minimum: 0,
          maximum: 60,
          default: 2,
          description: 'how stale the revocation state behind each token check may be: revocations reach every replica within this (0 = read it on every request)',
        }),
      },
      { default: {} },
    ),
    limits: Type.Object(
      {
        maxUploadBytes: Bytes('largest single upload', 64 * 2 ** 30),
        defaultQuotaStorageBytes: Bytes('storage quota of new accounts', 0),
        defaultQuotaUploadBytes: Bytes('per-upload limit of new accounts', 0),
        maxJsonBodyBytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
        bodyTimeoutSeconds: Type.Number({
          minimum: 0,
          default: 60,
          description: 'headers and a non-upload body must arrive within this; an upload body is cut after this long without a byte (0 = off)',
        }),
        maxConnectionsPerAddress: Type.Integer({ minimum: 0, default: 256, description: 'open connections per client address (0 = unlimited)' }),
        maxOpenUploadsPerAccount: Type.Integer({ minimum: 0, default: 100, description: 'uploads (tus or multipart) one account may have open at once (0 = unlimited)' }),
        uploadExpirySeconds: Type.Number({ minimum: 1, default: 86400, description: 'an unfinished tus upload without a byte for this long is deleted' }),
        heavyReadsPerAccount: Type.Integer({
          minimum: 0,
          default: 4,
          description: 'concurrent directory listings, CAR and tar exports per account (per address when anonymous; 0 = unlimited)',
        }),
      },
      { default: {} },
    ),
    billing: Type.Object(
      {
        currency: Type.String({ minLength: 3, maxLength: 3, default: 'USD' }),
        storagePricePerGbMonth: Type.Number({ minimum: 0, default: 0.1 }),
        egressPricePerGb: Type.Number({ minimum: 0, default: 0.05 }),
        minimumCharge: Type.Number({ minimum: 0, default: 10, description: 'nothing is billed until the amount due reaches this' }),
        periodDays: Type.Integer({ minimum: 1, default: 30 }),
        sampleIntervalSeconds: Type.Number({
          minimum: 0.05,
          maximum: 86400,
          default: 3600,
          description: 'how often stored bytes are sampled into storage byte-hours',
        }),
        requestFlushSeconds: Type.Number({
          minimum: 0.05,
          maximum: 3600,
          default: 60,
          description: 'how often per-account request counts are written to the registry',
        }),
      },
      { default: {} },
    ),
    gateway: Type.Object(
      {
        access: Type.Enum(['public', 'token'], { default: 'token', description: 'who may read /ipfs/: anyone, or holders of a token or signed link' }),
        listen: Type.Optional(
          Type.String({ pattern: '^[^\\s:]+:\\d{1,5}$', description: 'host:port of a separate listener serving only /ipfs/ (its own origin, so user content never runs on the portal’s)' }),
        ),
        publicUrl: Type.Optional(
          Type.String({ pattern: '^https?://', description: 'URL browsers reach the separate gateway origin at; portal and share links point there (default http://<gateway.listen>)' }),
        ),
        subdomains: Type.Boolean({
          default: false,
          description: 'subdomain gateway: serve <base32 CIDv1>.ipfs.<host of gateway.publicUrl> (one origin per CID, as Kubo) and redirect the path form there',
        }),
      },
      { default: {} },
    ),
    cors: Type.Object(
      {
        allowOrigins: Type.Array(Type.String({ pattern: '^(https?://[^/\\s]+|\\*)$' }), {
          default: [],
          description: 'browser origins (scheme://host[:port], or * for any) that may call /api/v1, /api/v0 and /pinning cross-origin; /ipfs/ reads allow every origin (comma-separated in env and flags)',
        }),
      },
      { default: {} },
    ),
    metrics: Type.Object(
      { token: Type.Optional(Type.String({ minLength: 16, description: '/metrics answers only Authorization: Bearer <this token> (open when unset)' })) },
      { default: {} },
    ),
    admin: Type.Object(
      { email: Type.String({ minLength: 3, default: 'admin@pinfold.local' }) },
      { default: {} },
    ),
    pinning: Type.Object(
      {
        allowOrigins: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'non-public origins pin requests may be fetched from: CIDR ranges, addresses, host names, *.suffix (comma-separated in env and flags)',
        }),
        fetchConcurrency: Type.Integer({ minimum: 1, maximum: 256, default: 4, description: 'origin fetches at once (taken round-robin across accounts)' }),
        fetchTimeoutSeconds: Type.Number({ minimum: 1, maximum: 86400, default: 600, description: 'an origin fetch still running after this long fails' }),
        maxQueuedPerAccount: Type.Integer({ minimum: 1, default: 100, description: 'origin fetches one account may have waiting or running; more pin requests get 429' }),
      },
      { default: {} },
    ),
    cluster: Type.Object(
      {
        secret: Type.Optional(
          Type.String({ minLength: 16, description: 'shared secret storage nodes prove to join (generated and stored in the registry when absent)' }),
        ),
        secretFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding cluster.secret (keeps it out of ps and the environment)' })),
        joinFailuresPerAddress: Type.Integer({
          minimum: 1,
          default: 10,
          description: 'joins with a wrong cluster secret from one address before its control connections are refused for the window',
        }),
        joinFailureWindowSeconds: Type.Number({ minimum: 0.1, maximum: 86400, default: 300, description: 'see joinFailuresPerAddress' }),
        nodeDownAfterSeconds: Type.Number({ minimum: 1, default: 30, description: 'a node silent this long is down' }),
        reallocateAfterSeconds: Type.Number({ minimum: 1, default: 300, description: 'a node down this long has its pins re-allocated' }),
        syncSchedule: Type.String({ minLength: 9, default: '0 1 * * *', description: 'cron (UTC) for anti-entropy with every connected node' }),
        defaultReplicationMin: Type.Integer({ minimum: -1, default: -1, description: 'copies at least (−1 = every node)' }),
        defaultReplicationMax: Type.Integer({ minimum: -1, default: -1, description: 'copies at most (−1 = every node)' }),
        failureDomainTag: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'node tag whose values are failure domains, e.g. region' })),
        peerTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 7 * 86400, default: 3600, description: 'lifetime of peer tokens (re-issued before expiry)' }),
        reconcileIntervalSeconds: Type.Number({ minimum: 0.05, maximum: 3600, default: 2, description: 'how often new pins are allocated and the change feed is polled' }),
        scrubIntervalSeconds: Type.Number({ minimum: 0, maximum: 30 * 86400, default: 86400, description: 'origin repo scrub (verify, drop, re-fetch from nodes) every …; first run shortly after start; 0 = never' }),
        stagingRelease: Type.Union([Type.Literal('min'), Type.Literal('max'), Type.Literal('keep')], {
          default: 'min',
          description: "the origin repo's staged copy goes once this many copies on nodes passed a storage challenge (min / max replication; −1 = every usable node), or is kept",
        }),
        storageProofIntervalSeconds: Type.Number({ minimum: 0, maximum: 86400, default: 60, description: 'the leader challenges every copy of one pin (round robin) this often; 0 = never' }),
        maxAttemptsBeforeMove: Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: 'failed attempts after which a copy moves to another node with room' }),
        scrubBytesPerSecond: Type.Number({ minimum: 0, default: 100_000_000, description: 'read rate cap of the origin repo scrub, so it leaves the disk to serving; 0 = no cap' }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
)

export type CoordinatorConfig = Static<typeof CoordinatorConfigSchema>

/** Key paths whose values never appear in `config show` or logs. */
export const SECRET_KEYS: readonly string[] = ['auth.tokenSecret', 'cluster.secret', 'metrics.token']
