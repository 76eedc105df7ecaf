import { resolve } from 'node:path'
import { readSecretFile } from '../cluster/index.ts'
import { InvalidOptionError } from '../core/index.ts'
import { parseByteSize, parseCount, parseDuration } from '../core/units.ts'

/** One `--storage-path DIR[:max][:weight]`. */
export interface StoragePathSpec {
  dir: string
  maxSize?: number
  weight?: number
}

/** A storage node's validated configuration. */
export interface NodeConfig {
  /** The coordinator replicas' URLs (`http(s)://…` or `ws(s)://…`), tried in turn; at least one. */
  join: string[]
  /** The cluster secret (≥ 16 characters). */
  secret: string
  /** Absolute repo directory. */
  repo: string
  storagePaths: StoragePathSpec[]
  tags: Record<string, string>
  /** Where the node's peer gateway listens. */
  listen: { host: string; port: number }
  /** URL peers use to reach the gateway (default: from `listen`). */
  advertiseUrl?: string
  /** Who may read the node's `/ipfs/`: cluster peers (and share links) only, or anyone. */
  gatewayAccess: 'peer' | 'public'
  /** Replication cap in bytes per second (undefined: none). */
  bandwidth?: number
  name: string
  /** Account that drop-folder files are registered for (the coordinator's default when unset). */
  ingestAccount?: string
  /** Executor: items loaded at a time (default 10,000) and actions at once (default 4). */
  chunkSize: number
  concurrency: number
  reportIntervalMs: number
  /** 0 = only on demand. */
  repairIntervalMs: number
  /** Read rate cap of a repair run's verify in bytes per second; 0 = none (default 100 MB/s). */
  repairBandwidth: number
  ingestPollMs: number
  /** At shutdown, how long peer requests in flight may take before their connections are cut. */
  drainMs: number
  /** Longest wait between reconnect attempts to the coordinator (default 30 s). */
  reconnectMaxMs: number
  logLevel: string
}

export const MIN_SECRET_LENGTH = 16

/** Raw option values as the CLI (or a test) gives them. */
export interface NodeConfigInput {
  /** One URL, several separated by commas, or a list of either (`--join` repeated). */
  join?: string | string[]
  secret?: string
  secretFile?: string
  repo?: string
  storagePath?: string[]
  tag?: string[]
  listen?: string
  advertise?: string
  gatewayAccess?: string
  bandwidth?: string
  name?: string
  ingestAccount?: string
  chunkSize?: string
  concurrency?: string
  reportInterval?: string
  repairInterval?: string
  repairBandwidth?: string
  ingestPoll?: string
  drainTime?: string
  reconnectMax?: string
  logLevel?: string
}

const bad = (message: string) => new InvalidOptionError(message)

/** `DIR[:max][:weight]`: `max` a byte size (0 = unlimited), `weight` an integer (0 = read-only). */
export function parseStoragePathSpec(input: string): StoragePathSpec {
  // Windows drive letters aside, a ':' separates fields; the dir is everything before them.
  const parts = input.split(':')
  const dir = parts[0] ?? ''
  if (dir === '' || parts.length > 3) throw bad(`invalid --storage-path ${JSON.stringify(input)}: expected DIR[:max][:weight]`)
  const spec: StoragePathSpec = { dir }
  if (parts[1] !== undefined && parts[1] !== '') spec.maxSize = parseByteSize(parts[1], '--storage-path max size')
  if (parts[2] !== undefined && parts[2] !== '') spec.weight = parseCount(parts[2], '--storage-path weight')
  return spec
}

/** `key=value`. */
export function parseTag(input: string): [string, string] {
  const at = input.indexOf('=')
  const key = at > 0 ? input.slice(0, at) : ''
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw bad(`invalid --tag ${JSON.stringify(input)}: expected key=value (key: letters, digits, _ . -)`)
  const value = input.slice(at + 1)
  if (value.length === 0 || value.length > 200) throw bad(`invalid --tag ${JSON.stringify(input)}: value must be 1–200 characters`)
  return [key, value]
}

/** `host:port`, `:port`, `port` or `[v6]:port`. */
export function parseListen(input: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(input) ?? /^()()(\d+)$/.exec(input)
  const port = Number(match?.[3])
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad(`invalid --listen ${JSON.stringify(input)}: expected host:port (port 0 = any free port)`)
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port }
}

/** `50MB/s`, `50MB`, `1GiB/s` → bytes per second. */
export function parseBandwidth(input: string, flag = '--bandwidth'): number {
  const value = parseByteSize(input.replace(/\/s$/i, ''), flag)
  if (value <= 0) throw bad(`invalid ${flag} ${JSON.stringify(input)}: must be positive, e.g. 50MB/s`)
  return value
}

/**
 * The cluster secret: `--secret`, else `--secret-file`, else `PINFOLD_CLUSTER_SECRET`, else
 * `PINFOLD_CLUSTER_SECRET_FILE`. A file or the environment keeps it out of `ps`.
 */
function clusterSecretFrom(input: NodeConfigInput, env: NodeJS.ProcessEnv): string | undefined {
  if (input.secret !== undefined) return input.secret
  if (input.secretFile !== undefined) return readSecretFile(input.secretFile, 'the cluster secret', MIN_SECRET_LENGTH)
  if (env.PINFOLD_CLUSTER_SECRET) return env.PINFOLD_CLUSTER_SECRET
  const file = env.PINFOLD_CLUSTER_SECRET_FILE
  return file ? readSecretFile(file, 'the cluster secret', MIN_SECRET_LENGTH) : undefined
}

function positive(input: string | undefined, fallback: number, what: string): number {
  if (input === undefined) return fallback
  const n = parseCount(input, what)
  if (n < 1) throw bad(`invalid ${what} ${JSON.stringify(input)}: must be at least 1`)
  return n
}

/** `--join` values → the coordinator URLs, each checked; duplicates dropped. */
function joinUrls(input: string | string[] | undefined): string[] {
  const urls = [...new Set((typeof input === 'string' ? [input] : (input ?? [])).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))]
  if (urls.length === 0) throw bad('--join URL is required (the coordinator, e.g. http://10.0.0.1:8080; repeat it or separate with commas for several replicas)')
  for (const url of urls) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw bad(`invalid --join ${JSON.stringify(url)}: expected a URL such as http://10.0.0.1:8080`)
    }
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) throw bad(`invalid --join ${JSON.stringify(url)}: use http(s):// or ws(s)://`)
  }
  return urls
}

/**
 * Validates raw options into a {@link NodeConfig}; throws `InvalidOptionError` (a user error
 * with a one-line message) on the first problem. The secret may come from
 * `PINFOLD_CLUSTER_SECRET` (`env`) when not given.
 */
export function resolveNodeConfig(input: NodeConfigInput, env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): NodeConfig {
  const join = joinUrls(input.join)
  const secret = clusterSecretFrom(input, env)
  if (secret === undefined || secret === '') {
    throw bad('the cluster secret is required: --secret-file FILE, PINFOLD_CLUSTER_SECRET_FILE, PINFOLD_CLUSTER_SECRET or --secret S')
  }
  if (secret.length < MIN_SECRET_LENGTH) throw bad(`the cluster secret must be at least ${MIN_SECRET_LENGTH} characters`)
  const tags: Record<string, string> = {}
  for (const tag of input.tag ?? []) {
    const [key, value] = parseTag(tag)
    tags[key] = value
  }
  const listen = parseListen(input.listen ?? '127.0.0.1:0')
  let advertiseUrl: string | undefined
  if (input.advertise !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(input.advertise)) throw bad(`invalid --advertise ${JSON.stringify(input.advertise)}: expected http(s)://host:port`)
    advertiseUrl = input.advertise.replace(/\/+$/, '')
  } else if (listen.host === '0.0.0.0' || listen.host === '::') {
    throw bad(`--listen ${listen.host} needs --advertise URL (the address peers reach this node at)`)
  }
  const name = input.name ?? ''
  if (name.length > 200) throw bad('--name must be at most 200 characters')
  if (input.ingestAccount !== undefined && !/^[^\s@]+@[^\s@]+$/.test(input.ingestAccount)) {
    throw bad(`invalid --ingest-account ${JSON.stringify(input.ingestAccount)}: expected an email address`)
  }
  const gatewayAccess = input.gatewayAccess ?? 'peer'
  if (gatewayAccess !== 'peer' && gatewayAccess !== 'public') {
    throw bad(`invalid --gateway-access ${JSON.stringify(gatewayAccess)}: expected peer or public`)
  }
  const config: NodeConfig = {
    join,
    gatewayAccess,
    secret,
    repo: resolve(cwd, input.repo ?? 'pinfold-node'),
    storagePaths: (input.storagePath ?? []).map(parseStoragePathSpec),
    tags,
    listen,
    name,
    chunkSize: positive(input.chunkSize, 10_000, '--chunk-size'),
    concurrency: positive(input.concurrency, 4, '--concurrency'),
    reportIntervalMs: input.reportInterval === undefined ? 5000 : parseDuration(input.reportInterval, '--report-interval'),
    repairIntervalMs: input.repairInterval === undefined ? 60 * 60_000 : parseDuration(input.repairInterval, '--repair-interval'),
    repairBandwidth: input.repairBandwidth === undefined ? 100_000_000 : input.repairBandwidth === '0' ? 0 : parseBandwidth(input.repairBandwidth, '--repair-bandwidth'),
    ingestPollMs: input.ingestPoll === undefined ? 2000 : parseDuration(input.ingestPoll, '--ingest-poll'),
    drainMs: input.drainTime === undefined ? 10_000 : parseDuration(input.drainTime, '--drain-time'),
    reconnectMaxMs: input.reconnectMax === undefined ? 30_000 : parseDuration(input.reconnectMax, '--reconnect-max'),
    logLevel: input.logLevel ?? env.PINFOLD_LOG_LEVEL ?? 'info',
  }
  if (config.reportIntervalMs < 100) throw bad('--report-interval must be at least 100ms')
  if (config.ingestPollMs < 50) throw bad('--ingest-poll must be at least 50ms')
  if (config.reconnectMaxMs < 100) throw bad('--reconnect-max must be at least 100ms')
  if (advertiseUrl !== undefined) config.advertiseUrl = advertiseUrl
  if (input.bandwidth !== undefined) config.bandwidth = parseBandwidth(input.bandwidth)
  if (input.ingestAccount !== undefined) config.ingestAccount = input.ingestAccount
  return config
}
