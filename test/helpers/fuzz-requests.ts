/**
 * Malformed requests for the fuzz lane: a seeded generator (the same seed gives the same
 * requests, so a failure can be replayed) of HTTP requests across every surface of the
 * coordinator and of frames for the nodes' control socket.
 */

/** A request as `fetch` takes it, with the surface it aims at for the report. */
export interface FuzzRequest {
  surface: 'api/v1' | 'api/v0' | 'pinning' | 'ipfs'
  method: string
  path: string
  headers: Record<string, string>
  body?: Uint8Array | string
}

/** What the generator knows of the server: routes from its OpenAPI document, real ids to mix in. */
export interface FuzzTargets {
  /** OpenAPI paths with their methods, e.g. `['/api/v1/entries/{id}', ['get', 'patch']]`. */
  apiRoutes: [string, string[]][]
  /** Bearer tokens to send (valid ones of two accounts, so authorised code paths are reached). */
  tokens: string[]
  /** Real ids and CIDs, some the caller's, some another account's. */
  knownIds: string[]
  knownCids: string[]
}

/** mulberry32: small, fast and good enough to pick cases; seeded for replay. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KUBO_COMMANDS = [
  'add', 'cat', 'get', 'ls', 'pin/add', 'pin/rm', 'pin/ls', 'block/get', 'block/stat', 'block/put',
  'dag/export', 'dag/import', 'id', 'version', 'repo/stat', 'swarm/peers', 'not/a/command',
]
const PINNING_ROUTES: [string, string[]][] = [
  ['/pinning/pins', ['get', 'post']],
  ['/pinning/pins/{id}', ['get', 'post', 'delete']],
]
const GATEWAY_QUERIES = [
  'format=car', 'format=raw', 'format=dag-json', 'format=tar', 'format=%00', 'dag-scope=entity', 'dag-scope=block',
  'dag-scope=bogus', 'entity-bytes=0:-1', 'entity-bytes=-5:2', 'entity-bytes=99999999999999999999:*', 'entity-bytes=a:b',
  'car-version=2', 'car-order=dfs', 'car-dups=y', 'filename=x.html', 'download=true', 'filename=%0d%0aSet-Cookie:x',
]
const HEADER_VALUES = [
  'bytes=0-', 'bytes=-1', 'bytes=5-1', 'bytes=0-1,3-4,7-9', 'bytes=99999999999999999999-', 'bytes=abc', 'items=0-1',
  'application/vnd.ipld.car; version=2; order=unk', 'application/vnd.ipld.raw', '*/*;q=abc', 'text/html', '',
]

export function createFuzzer(seed: number, targets: FuzzTargets) {
  const random = seededRandom(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const chance = (p: number) => random() < p
  const int = (max: number) => Math.floor(random() * max)

  const garbageString = (): string =>
    pick([
      () => '',
      () => '..',
      () => '../../etc/passwd',
      () => '%2e%2e%2f%2e%2e',
      () => 'a'.repeat(int(5000) + 1),
      () => '\u0000\u001b[31m\r\n',
      () => '\u202e\u2066txt.exe',
      () => '💾'.repeat(int(50) + 1),
      () => String(-int(1e9)),
      () => '1e309',
      () => 'null',
      () => pick(targets.knownIds),
      () => pick(targets.knownCids),
      () => `${pick(targets.knownCids)}x`,
      () => pick(targets.knownCids).slice(0, int(40) + 1),
      () => `bafy${'a'.repeat(int(80))}`,
      () => `Qm${'1'.repeat(44)}`,
      () => `z${'Z'.repeat(int(60))}`,
      () => randomBase(int(64) + 1),
    ])()

  const randomBase = (length: number) => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567ABCDEFGHIJKLMNOPQRSTUVWXYZ0189+/=_-.~%'
    let out = ''
    for (let i = 0; i < length; i++) out += alphabet[int(alphabet.length)]
    return out
  }

  const garbageValue = (depth = 0): unknown =>
    pick([
      () => garbageString(),
      () => int(2 ** 31) * (chance(0.5) ? -1 : 1),
      () => 2 ** 53 + int(1000),
      () => random(),
      () => chance(0.5),
      () => null,
      () => (depth > 3 ? [] : Array.from({ length: int(5) }, () => garbageValue(depth + 1))),
      () => (depth > 3 ? {} : garbageObject(depth + 1)),
      () => deepNesting(int(2000) + 10),
    ])()

  const FIELD_NAMES = [
    'name', 'path', 'cid', 'parentId', 'to', 'email', 'password', 'currentPassword', 'newPassword', 'apiKey', 'role',
    'disabled', 'scopes', 'expiresAt', 'expiresIn', 'quota', 'replicationMin', 'replicationMax', 'origins', 'meta',
    'confirm', 'mode', 'size', 'mtime', '__proto__', 'constructor',
  ]
  const garbageObject = (depth = 0): Record<string, unknown> => {
    const out: Record<string, unknown> = {}
    for (let i = int(6); i > 0; i--) out[chance(0.8) ? pick(FIELD_NAMES) : garbageString()] = garbageValue(depth)
    return out
  }

  const deepNesting = (levels: number): unknown => JSON.parse('['.repeat(levels) + ']'.repeat(levels))

  const jsonBody = (): string =>
    pick([
      () => JSON.stringify(garbageObject()),
      () => JSON.stringify(garbageValue()),
      () => JSON.stringify(garbageObject()).slice(0, int(30)),
      () => `{"a":${'['.repeat(int(5000) + 1)}`,
      () => '\u0000\u0001\u0002',
      () => '',
    ])()

  const multipartBody = (): { body: string; type: string } => {
    const boundary = chance(0.8) ? 'fuzzboundary' : garbageString()
    const declared = chance(0.7) ? boundary : 'other'
    const parts = Array.from({ length: int(3) + 1 }, () =>
      pick([
        () => `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${garbageString()}"\r\n\r\n${garbageString()}\r\n`,
        () => `--${boundary}\r\nContent-Disposition: form-data; name="${garbageString()}"\r\n\r\n${garbageString()}\r\n`,
        () => `--${boundary}\r\nContent-Type: application/x-directory\r\nContent-Disposition: form-data; name="file"; filename="dir"\r\n\r\n`,
        () => `--${boundary}\r\nno headers at all`,
        () => `--${boundary}\r\n\r\n\r\n`,
        () => garbageString(),
      ])(),
    )
    const closing = chance(0.6) ? `--${boundary}--\r\n` : ''
    return { body: parts.join('') + closing, type: `multipart/form-data; boundary=${declared}` }
  }

  const randomBytes = (): Uint8Array => {
    const out = new Uint8Array(int(4096))
    for (let i = 0; i < out.length; i++) out[i] = int(256)
    // a CAR-ish prefix now and then, so the CAR reader's length checks are reached
    if (out.length > 4 && chance(0.3)) out.set([0x3a, 0xa2, 0x65, 0x72])
    return out
  }

  const authHeader = (): Record<string, string> =>
    pick([
      () => ({}),
      () => ({ authorization: `Bearer ${pick(targets.tokens)}` }),
      () => ({ authorization: `Bearer ${pick(targets.tokens)}` }),
      () => ({ authorization: `Bearer ${garbageString()}` }),
      () => ({ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.' }),
      () => ({ authorization: `Basic ${garbageString()}` }),
    ])()

  const fillPath = (template: string) =>
    template.replace(/\{[^}]+\}/g, () => encodeURIComponent(chance(0.5) ? pick([...targets.knownIds, ...targets.knownCids]) : garbageString()))

  const queryString = (keys: readonly string[]) =>
    Array.from({ length: int(4) }, () => `${encodeURIComponent(pick(keys))}=${encodeURIComponent(garbageString())}`).join('&')

  const withBody = (request: FuzzRequest): FuzzRequest => {
    if (request.method === 'GET' || request.method === 'HEAD') return request
    const shape = pick(['json', 'json', 'multipart', 'bytes', 'none'] as const)
    if (shape === 'json') return { ...request, body: jsonBody(), headers: { ...request.headers, 'content-type': 'application/json' } }
    if (shape === 'multipart') {
      const { body, type } = multipartBody()
      return { ...request, body, headers: { ...request.headers, 'content-type': type } }
    }
    if (shape === 'bytes') return { ...request, body: randomBytes(), headers: { ...request.headers, 'content-type': pick(['application/octet-stream', 'application/vnd.ipld.car', 'text/plain', 'application/offset+octet-stream']) } }
    return request
  }

  const apiRequest = (): FuzzRequest => {
    const [template, methods] = pick(targets.apiRoutes)
    const method = (chance(0.9) ? pick(methods) : pick(['put', 'delete', 'patch', 'options'])).toUpperCase()
    const query = chance(0.4) ? `?${queryString(['limit', 'cursor', 'path', 'q', 'sort', 'order', 'status', 'from', 'to', 'download', 'format', 'recursive'])}` : ''
    const headers: Record<string, string> = { ...authHeader() }
    if (template.includes('tus')) {
      if (chance(0.5)) headers['tus-resumable'] = pick(['1.0.0', '0.2', garbageString()])
      if (chance(0.5)) headers['upload-length'] = pick(['-1', '1e30', '0', String(int(1e6)), garbageString()])
      if (chance(0.5)) headers['upload-offset'] = pick(['-1', '0', String(int(1e6)), garbageString()])
      if (chance(0.3)) headers['upload-metadata'] = `filename ${Buffer.from(garbageString()).toString('base64')},path ${garbageString()}`
    }
    return withBody({ surface: 'api/v1', method, path: fillPath(template) + query, headers })
  }

  const kuboRequest = (): FuzzRequest => {
    const command = pick(KUBO_COMMANDS)
    const args = Array.from({ length: int(3) }, () => `arg=${encodeURIComponent(garbageString())}`)
    const options = queryString(['recursive', 'stream', 'cid-version', 'raw-leaves', 'chunker', 'pin', 'wrap-with-directory', 'offset', 'length', 'type', 'format', 'mhtype', 'size-only', 'progress', 'only-hash', 'quieter'])
    const query = [...args, options].filter(Boolean).join('&')
    return withBody({ surface: 'api/v0', method: chance(0.95) ? 'POST' : 'GET', path: `/api/v0/${command}${query ? `?${query}` : ''}`, headers: authHeader() })
  }

  const pinningRequest = (): FuzzRequest => {
    const [template, methods] = pick(PINNING_ROUTES)
    const query = chance(0.5) ? `?${queryString(['cid', 'name', 'match', 'status', 'before', 'after', 'limit', 'meta'])}` : ''
    return withBody({ surface: 'pinning', method: pick(methods).toUpperCase(), path: fillPath(template) + query, headers: authHeader() })
  }

  const gatewayRequest = (): FuzzRequest => {
    const root = chance(0.6) ? pick(targets.knownCids) : garbageString()
    const subPath = chance(0.4) ? `/${Array.from({ length: int(4) + 1 }, () => encodeURIComponent(garbageString())).join('/')}` : ''
    const query = chance(0.6) ? `?${Array.from({ length: int(3) + 1 }, () => pick(GATEWAY_QUERIES)).join('&')}` : ''
    const headers: Record<string, string> = { ...authHeader() }
    if (chance(0.4)) headers.range = pick(HEADER_VALUES)
    if (chance(0.4)) headers.accept = pick(HEADER_VALUES)
    if (chance(0.1)) headers['service-worker'] = 'script'
    if (chance(0.1)) headers['cache-control'] = 'only-if-cached'
    const method = chance(0.9) ? pick(['GET', 'HEAD']) : pick(['POST', 'PUT', 'DELETE', 'OPTIONS'])
    return { surface: 'ipfs', method, path: `/ipfs/${encodeURIComponent(root).replace(/%2F/g, '/')}${subPath}${query}`, headers }
  }

  /** One control-socket frame: invalid JSON, wrong shapes, frames out of order, binary. */
  const controlFrame = (): string | Uint8Array =>
    pick([
      () => jsonBody(),
      () => JSON.stringify({ type: pick(['join', 'report', 'status', 'ack', 'ingested', 'sync', 'renew', 'bogus']), ...garbageObject() }),
      () => JSON.stringify({ type: 'join', version: garbageValue(), nodeId: garbageString(), publicKey: garbageString(), signature: garbageString(), proof: garbageString(), nonce: garbageString() }),
      () => randomBytes(),
      () => 'x'.repeat(int(100_000)),
    ])()

  return {
    /** The next HTTP request, spread across the four surfaces. */
    next(): FuzzRequest {
      return pick([apiRequest, apiRequest, kuboRequest, pinningRequest, gatewayRequest])()
    },
    controlFrame,
  }
}
