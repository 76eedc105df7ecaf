import { InvalidGatewayRequestError } from './gateway-error.ts'

/** What part of the DAG at the end of the path a CAR carries (trustless gateway `dag-scope`). */
export type DagScope = 'block' | 'entity' | 'all'

/** A parsed `entity-bytes=from:to`: inclusive, negative counts from the end, `to` undefined = `*`. */
export interface EntityBytes {
  from: number
  to: number | undefined
}

/** Everything that shapes a CAR response. Pinfold always emits CARv1 in DFS order. */
export interface CarOptions {
  scope: DagScope
  entityBytes?: EntityBytes
  /** `y`: every occurrence of a block is sent; `n`: each block once. */
  dups: boolean
}

/** Where CAR parameters were given: URL query values win over `Accept` parameters. */
export interface CarParameterSources {
  query: URLSearchParams
  acceptParams: Record<string, string>
}

/**
 * Validates `car-version`/`version`, `car-order`/`order`, `car-dups`/`dups`, `dag-scope`
 * and `entity-bytes`. Throws {@link InvalidGatewayRequestError} on any unsupported value
 * (the spec allows 400 for a CAR variant the gateway does not produce).
 */
export function parseCarOptions({ query, acceptParams }: CarParameterSources): CarOptions {
  const version = query.get('car-version') ?? acceptParams.version ?? '1'
  if (version !== '1') throw new InvalidGatewayRequestError(`unsupported CAR version ${JSON.stringify(version)} (only 1)`)
  const order = query.get('car-order') ?? acceptParams.order ?? 'dfs'
  if (order !== 'dfs' && order !== 'unk') {
    throw new InvalidGatewayRequestError(`unsupported CAR order ${JSON.stringify(order)} (dfs or unk)`)
  }
  const dups = query.get('car-dups') ?? acceptParams.dups ?? 'n'
  if (dups !== 'y' && dups !== 'n') throw new InvalidGatewayRequestError(`invalid car-dups ${JSON.stringify(dups)} (y or n)`)
  const rawBytes = query.get('entity-bytes')
  const entityBytes = rawBytes === null ? undefined : parseEntityBytes(rawBytes)
  const scope = parseDagScope(query.get('dag-scope'), entityBytes !== undefined)
  const options: CarOptions = { scope, dups: dups === 'y' }
  if (entityBytes !== undefined) options.entityBytes = entityBytes
  return options
}

/** `dag-scope`, defaulting to `all`, or to `entity` when `entity-bytes` is given (it implies entity). */
function parseDagScope(value: string | null, hasEntityBytes: boolean): DagScope {
  if (value === null) return hasEntityBytes ? 'entity' : 'all'
  if (value === 'block' || value === 'entity' || value === 'all') return value
  throw new InvalidGatewayRequestError(`invalid dag-scope ${JSON.stringify(value)} (block, entity or all)`)
}

/**
 * Parses `from:to` where `from` is an integer (negative = from the end) and `to` an
 * integer or `*`. Two non-negative bounds with `from > to` can never select anything
 * and are refused up front.
 */
export function parseEntityBytes(value: string): EntityBytes {
  const match = /^(-?[0-9]{1,16}):(\*|-?[0-9]{1,16})$/.exec(value)
  if (match === null) throw new InvalidGatewayRequestError(`invalid entity-bytes ${JSON.stringify(value.slice(0, 50))}`)
  const from = Number(match[1])
  const to = match[2] === '*' ? undefined : Number(match[2])
  if (!Number.isSafeInteger(from) || (to !== undefined && !Number.isSafeInteger(to))) {
    throw new InvalidGatewayRequestError(`entity-bytes out of range: ${JSON.stringify(value)}`)
  }
  if (to !== undefined && from >= 0 && to >= 0 && from > to) {
    throw new InvalidGatewayRequestError(`entity-bytes ${value}: from is after to`)
  }
  return { from, to }
}

/** The response `Content-Type` for a CAR with these options. */
export function carContentType(options: CarOptions): string {
  return `application/vnd.ipld.car; version=1; order=dfs; dups=${options.dups ? 'y' : 'n'}`
}
