import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { pino } from 'pino'
import {
  type ChangeEntry,
  CONTROL_PROTOCOL_VERSION,
  clusterSecret,
  COORDINATOR_AUDIENCE,
  issuePeerToken,
  loadOrCreateNodeIdentity,
  type NodeMessage,
  parseNodeMessage,
  verifyNodeSignature,
} from '../../src/cluster/index.ts'
import { initRepo, openRepo, type Repo } from '../../src/repo/index.ts'
import { AntiEntropy } from '../../src/node/control/anti-entropy.ts'
import { ControlClient, controlUrl, coordinatorBaseUrl } from '../../src/node/control/control-client.ts'
import { QueueStore } from '../../src/node/executor/queue-store.ts'
import { PinSet, SyncResponder } from '../../src/sync/index.ts'
import { useTempDir } from '../helpers/temp-dir.ts'

const logger = pino({ level: 'silent' })
const SECRET = 'correct-horse-battery-staple'
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))

interface Socket {
  send(data: string): void
  close(code?: number, reason?: string): void
  on(event: 'message', listener: (data: Buffer) => void): void
  on(event: 'close', listener: () => void): void
}

/** A scripted coordinator: the real handshake, then whatever each test does with the session. */
interface FakeCoordinator {
  url: string
  app: FastifyInstance
  /** Messages received after welcome, per connection (in order). */
  sessions: Array<{ joins: Extract<NodeMessage, { type: 'join' }>; received: NodeMessage[]; socket: Socket }>
  onWelcomed?: (session: FakeCoordinator['sessions'][number]) => void
  onMessage?: (session: FakeCoordinator['sessions'][number], message: NodeMessage) => void
  latestSeq: number
}

async function startFakeCoordinator(options: { secret?: string; forgeProof?: boolean } = {}): Promise<FakeCoordinator> {
  const secret = clusterSecret(options.secret ?? SECRET)
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const coordinatorKey = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
  const app = Fastify()
  await app.register(websocket)
  const fake: FakeCoordinator = { url: '', app, sessions: [], latestSeq: 0 }
  app.get('/api/v1/nodes/connect', { websocket: true }, (socket: Socket) => {
    const nonce = new Uint8Array(randomBytes(32))
    let session: FakeCoordinator['sessions'][number] | undefined
    socket.on('message', (data: Buffer) => {
      const message = parseNodeMessage(data.toString())
      if (session === undefined) {
        assert.equal(message.type, 'join')
        if (message.type !== 'join') return
        const key = unb64(message.publicKey)
        if (!secret.check('join', unb64(message.proof), nonce, key)) {
          socket.send(JSON.stringify({ type: 'refused', code: 'ERR_CLUSTER_SECRET', message: 'wrong secret' }))
          socket.close(4001, 'refused')
          return
        }
        assert.ok(verifyNodeSignature(key, nonce, unb64(message.signature)))
        session = { joins: message, received: [], socket }
        fake.sessions.push(session)
        void issuePeerToken(privateKey, message.nodeId, COORDINATOR_AUDIENCE, 600).then(({ token, expiresAt }) => {
          const proof = options.forgeProof ? randomBytes(32) : secret.prove('welcome', unb64(message.nodeNonce), nonce)
          socket.send(
            JSON.stringify({
              type: 'welcome',
              nodeId: message.nodeId,
              coordinatorProof: b64(proof),
              coordinatorKey: b64(coordinatorKey),
              peerToken: token,
              peerTokenExpiresAt: expiresAt,
              latestSeq: fake.latestSeq,
            }),
          )
          if (session) fake.onWelcomed?.(session)
        })
        return
      }
      session.received.push(message)
      fake.onMessage?.(session, message)
    })
    socket.send(JSON.stringify({ type: 'challenge', protocol: CONTROL_PROTOCOL_VERSION, nonce: b64(nonce) }))
  })
  fake.url = await app.listen({ host: '127.0.0.1', port: 0 })
  return fake
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function cidOf(text: string): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text))).toString()
}

describe('control client', () => {
  const tmp = useTempDir('pinfold-control-')
  let fake: FakeCoordinator
  before(async () => {
    fake = await startFakeCoordinator()
  })
  after(() => fake.app.close())

  it('derives the control endpoint and the coordinator base URL', () => {
    assert.equal(controlUrl('http://10.0.0.1:8080'), 'ws://10.0.0.1:8080/api/v1/nodes/connect')
    assert.equal(controlUrl('https://c.example/pinfold/'), 'wss://c.example/pinfold/api/v1/nodes/connect')
    assert.equal(coordinatorBaseUrl('ws://10.0.0.1:8080/api/v1/nodes/connect'), 'http://10.0.0.1:8080')
    assert.equal(coordinatorBaseUrl('https://c.example/pinfold/'), 'https://c.example/pinfold')
  })

  it('joins with proofs, applies changes durably before acking, and resumes from the stored cursor', async () => {
    const dir = tmp()
    const identity = await loadOrCreateNodeIdentity(dir)
    const store = new QueueStore(join(dir, 'state-a.sqlite'))
    const acked: number[] = []
    const events: string[] = []
    const handlers = {
      cursor: () => Number(store.getMeta('cursor') ?? 0),
      applyChanges(changes: ChangeEntry[], seq: number) {
        store.enqueue(
          changes.map((c) => ({ cid: c.cid, action: c.action })),
          { cursor: String(seq) },
        )
        events.push(`queued ${seq}`)
      },
      report: async () => ({ storage: [], pins: 0, queued: 0, failed: 0, version: 'test' }),
    }
    fake.sessions.length = 0
    fake.onMessage = (_session, message) => {
      if (message.type === 'ack') {
        acked.push(message.seq)
        events.push(`ack ${message.seq} stored=${Number(store.getMeta('cursor')) >= message.seq}`)
      }
    }
    const client = new ControlClient({
      urls: [fake.url],
      secret: SECRET,
      identity,
      name: 'n1',
      version: 'test',
      tags: { region: 'eu' },
      gatewayUrl: 'http://127.0.0.1:1234',
      handlers,
      logger,
      reportIntervalMs: 100,
      reconnectBaseMs: 20,
    })
    client.start()
    try {
      await client.waitFor('connected')
      const session = fake.sessions[0]
      assert.ok(session)
      assert.equal(session.joins.nodeId, identity.id)
      assert.equal(session.joins.cursor, 0)
      assert.deepEqual(session.joins.tags, { region: 'eu' })
      assert.ok(client.peerToken)
      assert.equal(client.coordinatorKey?.length, 32)
      await until(() => session.received.filter((m) => m.type === 'report').length >= 2)

      const [a, b, c] = [await cidOf('a'), await cidOf('b'), await cidOf('c')]
      session.socket.send(
        JSON.stringify({
          type: 'changes',
          changes: [
            { seq: 1, cid: a, action: 'pin' },
            { seq: 2, cid: b, action: 'pin' },
          ],
          more: true,
        }),
      )
      session.socket.send(JSON.stringify({ type: 'changes', changes: [{ seq: 3, cid: a, action: 'unpin' }], more: false }))
      await until(() => acked.includes(3))
      assert.deepEqual(
        events.filter((e) => e.startsWith('ack')),
        ['ack 2 stored=true', 'ack 3 stored=true'],
        'each ack arrives after the changes and the cursor were stored',
      )
      assert.ok(events.indexOf('queued 2') < events.indexOf('ack 2 stored=true'))
      assert.equal(store.get(a)?.action, 'unpin')
      assert.equal(store.get(b)?.action, 'pin')

      // the coordinator drops the connection: the client reconnects and resumes after seq 3
      session.socket.close(1001, 'restart')
      await until(() => fake.sessions.length === 2)
      await client.waitFor('connected')
      const second = fake.sessions[1]
      assert.equal(second?.joins.cursor, 3)
      // a replayed change at or below the cursor is not applied again; a new one is
      second?.socket.send(
        JSON.stringify({
          type: 'changes',
          changes: [
            { seq: 3, cid: a, action: 'pin' },
            { seq: 4, cid: c, action: 'pin' },
          ],
          more: false,
        }),
      )
      await until(() => acked.includes(4))
      assert.equal(store.get(a)?.action, 'unpin', 'seq 3 was not re-applied')
      assert.equal(store.get(c)?.action, 'pin')
      assert.equal(store.getMeta('cursor'), '4')
    } finally {
      fake.onMessage = undefined
      await client.stop()
      store.close()
    }
    // a restarted node (new client, same state file) joins with the persisted cursor
    const reopened = new QueueStore(join(dir, 'state-a.sqlite'))
    const again = new ControlClient({
      urls: [fake.url],
      secret: SECRET,
      identity,
      name: 'n1',
      version: 'test',
      tags: {},
      handlers: { cursor: () => Number(reopened.getMeta('cursor') ?? 0), applyChanges: () => {} },
      logger,
    })
    again.start()
    try {
      await again.waitFor('connected')
      assert.equal(fake.sessions.at(-1)?.joins.cursor, 4)
    } finally {
      await again.stop()
      reopened.close()
    }
  })

  it('refuses to talk to a coordinator that cannot prove the secret', async () => {
    const forger = await startFakeCoordinator({ forgeProof: true })
    const identity = await loadOrCreateNodeIdentity(tmp())
    const applied: ChangeEntry[] = []
    const client = new ControlClient({
      urls: [forger.url],
      secret: SECRET,
      identity,
      name: 'n2',
      version: 'test',
      tags: {},
      handlers: { cursor: () => 0, applyChanges: (changes) => void applied.push(...changes) },
      logger,
      reconnectBaseMs: 5000,
    })
    forger.onWelcomed = (session) =>
      session.socket.send(JSON.stringify({ type: 'changes', changes: [{ seq: 1, cid: 'bafyevil', action: 'unpin' }], more: false }))
    client.start()
    try {
      await until(() => client.lastError?.code === 'ERR_COORDINATOR_PROOF').catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(client.lastError)} ${client.state}`)
      })
      assert.notEqual(client.state, 'connected')
      assert.equal(client.peerToken, undefined)
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.deepEqual(applied, [], 'nothing from it is applied')
    } finally {
      await client.stop()
      await forger.app.close()
    }
  })

  it('is refused with a wrong cluster secret', async () => {
    const identity = await loadOrCreateNodeIdentity(tmp())
    const client = new ControlClient({
      urls: [fake.url],
      secret: 'not-the-cluster-secret',
      identity,
      name: 'n3',
      version: 'test',
      tags: {},
      handlers: { cursor: () => 0, applyChanges: () => {} },
      logger,
      reconnectBaseMs: 5000,
    })
    client.start()
    try {
      await until(() => client.lastError?.code === 'ERR_CLUSTER_SECRET')
      assert.notEqual(client.state, 'connected')
    } finally {
      await client.stop()
    }
  })

  it('answers sync-request with sync frames, queues need → pin, have → unpin, and restates misrecorded statuses', async () => {
    const dir = join(tmp(), 'repo-sync')
    await initRepo(dir)
    const repo: Repo = await openRepo(dir)
    const store = new QueueStore(join(dir, 'node-state.sqlite'))
    const identity = await loadOrCreateNodeIdentity(dir)
    try {
      // held: 30 pins; desired: 25 of them + 3 others → need 3, have 5
      const held: CID[] = []
      for (let i = 0; i < 30; i++) {
        const bytes = new TextEncoder().encode(`block ${i}`)
        const cid = CID.createV1(raw.code, await sha256.digest(bytes))
        await repo.blocks.put(cid, bytes)
        held.push(cid)
      }
      for (const cid of held) await repo.pins.add(cid)
      const extra = held.slice(25)
      const missing = [await cidOf('x'), await cidOf('y'), await cidOf('z')]
      const desired = PinSet.from([...held.slice(0, 25).map((c) => c.bytes), ...missing.map((c) => CID.parse(c).bytes)])
      const responder = new SyncResponder(desired)
      // the status round: the coordinator records only 20 of the 25 held-and-wanted as pinned
      const recordedPinned = new SyncResponder(PinSet.from(held.slice(0, 20).map((c) => c.bytes)))
      const restated: { held: string[]; lacking: string[] }[] = []

      let client: ControlClient | undefined
      const antiEntropy = new AntiEntropy({
        repo,
        send: (message) => client?.send(message) ?? false,
        enqueue: (requests) => void store.enqueue(requests),
        restate: (heldCids, lacking) => restated.push({ held: heldCids, lacking }),
        logger,
      })
      let syncFrames = 0
      let done: Extract<NodeMessage, { type: 'sync-done' }> | undefined
      fake.onMessage = (session, message) => {
        if (message.type === 'sync') {
          syncFrames++
          const reply = (message.scope === 'pinned' ? recordedPinned : responder).respond(unb64(message.payload))
          session.socket.send(JSON.stringify({ type: 'sync', session: message.session, payload: b64(reply) }))
        }
        if (message.type === 'sync-done') done = message
      }
      fake.onWelcomed = (session) => session.socket.send(JSON.stringify({ type: 'sync-request', reason: 'on connect' }))
      client = new ControlClient({
        urls: [fake.url],
        secret: SECRET,
        identity,
        name: 'n4',
        version: 'test',
        tags: {},
        handlers: {
          cursor: () => 0,
          applyChanges: () => {},
          onSyncRequest: (reason) => void antiEntropy.request(reason),
          onSync: (message) => antiEntropy.onSync(message),
          onDisconnect: () => antiEntropy.abandon(),
        },
        logger,
      })
      client.start()
      try {
        await until(() => done !== undefined)
        assert.ok(syncFrames >= 1)
        assert.equal(done?.need, 3)
        assert.equal(done?.have, 5)
        for (const cid of missing) assert.equal(store.get(cid)?.action, 'pin')
        for (const cid of extra) assert.equal(store.get(cid.toString())?.action, 'unpin')
        assert.equal(store.counts().queued + store.counts().unpinning, 8)
        assert.equal(antiEntropy.completed.length, 1)
        assert.equal(antiEntropy.completed[0]?.restated, 5)
        assert.deepEqual(
          restated.map((r) => ({ held: [...r.held].sort(), lacking: r.lacking })),
          [{ held: held.slice(20, 25).map((c) => c.toString()).sort(), lacking: [] }],
          'the status round finds the held pins the coordinator does not record as pinned',
        )
      } finally {
        fake.onMessage = undefined
        fake.onWelcomed = undefined
        await client.stop()
      }
    } finally {
      store.close()
      await repo.close()
    }
  })
})
