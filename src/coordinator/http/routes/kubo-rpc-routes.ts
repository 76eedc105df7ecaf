import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Principal, Scope } from '../../auth/principal.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { abortOnClose } from '../../files/download-meter.ts'
import { holdHeavyRead } from '../../limits/index.ts'
import { receiveAdd, runAdd } from '../../kubo-rpc/rpc-add.ts'
import { blockGet, blockPut, blockStat, dagExport, dagImport } from '../../kubo-rpc/rpc-blocks.ts'
import { catCommand, getCommand, lsCommand } from '../../kubo-rpc/rpc-content.ts'
import { type RpcComponents, rpcLimits } from '../../kubo-rpc/rpc-context.ts'
import { idInfo, repoStat, versionInfo } from '../../kubo-rpc/rpc-node-info.ts'
import { pinAdd, pinLs, pinRm } from '../../kubo-rpc/rpc-pins.ts'
import { RpcArgs, sendKuboError, sendUnknownCommand } from '../../kubo-rpc/rpc-protocol.ts'
import { CHUNKED_JSON_HEADERS, ndjson, sendStream, streamOutputHeaders } from '../../kubo-rpc/rpc-stream.ts'
import { checkDeclaredLength } from '../../uploads/upload-limits.ts'
import { MULTIPART_OPTIONS } from '../../uploads/multipart-receiver.ts'

interface Invocation {
  c: RpcComponents
  principal: Principal
  args: RpcArgs
  request: FastifyRequest
  reply: FastifyReply
}

interface Command {
  scope: Scope
  /** Walks a whole directory or DAG: holds one of the account's heavy-read slots while it answers. */
  heavy?: true
  run(call: Invocation): Promise<unknown>
}

const JSON_HEADERS = { 'content-type': 'application/json' }

/** Byte outputs are metered as the account's downloads, as the files API's. */
function sendBytes(call: Invocation, contentType: string, source: AsyncIterable<Uint8Array>): Promise<FastifyReply> {
  return sendStream(call.reply, streamOutputHeaders(contentType), source, { accountId: call.principal.accountId, deps: call.c })
}

function sendJson(call: Invocation, body: unknown): FastifyReply {
  return call.reply.headers(JSON_HEADERS).send(JSON.stringify(body))
}

/** The Kubo RPC subset Pinfold serves; anything else is Kubo's unknown-command 404. */
const COMMANDS: Record<string, Command> = {
  add: {
    scope: 'write',
    async run(call) {
      const onlyHash = call.args.bool('only-hash', false)
      const limits = await rpcLimits(call.c, call.principal.accountId)
      // only-hash stores nothing: only the size of one request is limited
      if (onlyHash) limits.storageBytes = Infinity
      checkDeclaredLength(limits, call.request.headers['content-length'])
      const received = await receiveAdd(call.request, call.c.uploads.multipartDir, limits)
      return sendStream(call.reply, CHUNKED_JSON_HEADERS, ndjson(runAdd(call.c, call.principal, call.args, received)))
    },
  },
  cat: {
    scope: 'read',
    async run(call) {
      return sendBytes(call, 'text/plain', await catCommand(call.c, call.principal, call.args, abortOnClose(call.reply)))
    },
  },
  get: {
    scope: 'read',
    heavy: true,
    async run(call) {
      return sendBytes(call, 'application/x-tar', await getCommand(call.c, call.principal, call.args, abortOnClose(call.reply)))
    },
  },
  ls: {
    scope: 'read',
    heavy: true,
    run: (call) => sendStream(call.reply, JSON_HEADERS, lsCommand(call.c, call.principal, call.args, abortOnClose(call.reply))),
  },
  'pin/add': { scope: 'write', run: async (call) => sendJson(call, await pinAdd(call.c, call.principal, call.args)) },
  'pin/rm': { scope: 'write', run: async (call) => sendJson(call, await pinRm(call.c, call.principal, call.args)) },
  'pin/ls': {
    scope: 'read',
    // type=all (the default) and indirect walk every pinned DAG
    heavy: true,
    async run(call) {
      const pins = pinLs(call.c, call.principal, call.args)
      if (call.args.bool('stream', false)) return sendStream(call.reply, CHUNKED_JSON_HEADERS, ndjson(pins))
      const keys: Record<string, { Type: string; Name?: string }> = {}
      for await (const { Cid, ...rest } of pins) keys[Cid] = rest
      return sendJson(call, { Keys: keys })
    },
  },
  'block/get': {
    scope: 'read',
    async run(call) {
      const bytes = await blockGet(call.c, call.principal, call.args)
      return sendBytes(call, 'text/plain', (async function* () {
        yield bytes
      })())
    },
  },
  'block/stat': { scope: 'read', run: async (call) => sendJson(call, await blockStat(call.c, call.principal, call.args)) },
  'block/put': {
    scope: 'write',
    async run(call) {
      const limits = await rpcLimits(call.c, call.principal.accountId)
      checkDeclaredLength(limits, call.request.headers['content-length'])
      return sendStream(call.reply, JSON_HEADERS, ndjson(blockPut(call.c, call.principal, call.args, call.request, limits)))
    },
  },
  'dag/export': {
    scope: 'read',
    heavy: true,
    async run(call) {
      return sendBytes(call, 'application/vnd.ipld.car', await dagExport(call.c, call.principal, call.args))
    },
  },
  'dag/import': {
    scope: 'write',
    async run(call) {
      const limits = await rpcLimits(call.c, call.principal.accountId)
      checkDeclaredLength(limits, call.request.headers['content-length'])
      return sendStream(call.reply, CHUNKED_JSON_HEADERS, ndjson(dagImport(call.c, call.principal, call.args, call.request, limits)))
    },
  },
  id: {
    scope: 'read',
    async run(call) {
      if (call.args.args.length > 0) throw Object.assign(new Error('looking up other peers is not supported by Pinfold'), { statusCode: 400 })
      return sendJson(call, idInfo(call.c, call.request))
    },
  },
  version: { scope: 'read', run: async (call) => sendJson(call, versionInfo()) },
  'repo/stat': { scope: 'read', run: async (call) => sendJson(call, await repoStat(call.c, call.args.bool('size-only', false))) },
}

const PREFIX = '/api/v0/'

/**
 * The Kubo RPC subset under `/api/v0` (see docs/kubo-rpc.md): POST only (GET answers 405,
 * as Kubo), options in the query string, the same bearer tokens as the REST API, Kubo's
 * error shape `{"Message","Code","Type":"error"}` and its plain-text 404 for unknown
 * commands. Pins made here are pins of the caller's account.
 */
export async function kuboRpcRoutes(app: FastifyInstance, components: CoordinatorComponents): Promise<void> {
  await app.register(async (scope) => {
    // commands read their own bodies (multipart or none); the API's JSON parser does not apply
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    await scope.register(multipart, MULTIPART_OPTIONS)
    scope.setErrorHandler((error, request, reply) => {
      if (!(error instanceof Error) || (error as { userError?: boolean }).userError !== true) {
        const status = (error as { statusCode?: number }).statusCode
        if (status === undefined || status >= 500) request.log.error({ err: error }, 'kubo rpc command failed')
      }
      return sendKuboError(reply, error)
    })
    scope.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: `${PREFIX}*`,
      schema: { hide: true },
      async handler(request, reply) {
        const path = request.url.split('?')[0] ?? ''
        const name = path.slice(PREFIX.length).replace(/\/+$/, '')
        const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
        if (command === undefined) return sendUnknownCommand(reply)
        if (request.method !== 'POST') {
          return reply.code(405).header('allow', 'POST').type('text/plain; charset=utf-8').send('405 - Method Not Allowed\n')
        }
        const principal = await components.authenticate(request, command.scope)
        if (command.heavy) holdHeavyRead(components.heavyReads, principal.accountId, reply.raw)
        const call: Invocation = { c: components, principal, args: new RpcArgs(request), request, reply }
        return command.run(call)
      },
    })
  })
}
