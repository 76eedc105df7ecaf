import { equals } from 'multiformats/bytes'
import type { CID } from 'multiformats/cid'
import { parseCid, walkDag } from '../../core/index.ts'
import type { Pin } from '../../registry/index.ts'
import type { Principal } from '../auth/principal.ts'
import { cidForms } from '../files/cid-forms.ts'
import { notFoundLocally, pinForAccount, RPC_PIN_KIND, type RpcComponents, resolveReadable } from './rpc-context.ts'
import { badArgument, KuboRpcError, type RpcArgs } from './rpc-protocol.ts'

/**
 * `pin/add`: pins each path's CID recursively in the origin repo and registers it as a pin
 * of the caller's account (so storage nodes replicate it). Only content the origin repo
 * holds completely can be pinned: a missing block is reported at once, as an offline Kubo
 * would, instead of waiting for a network fetch that will never come.
 */
export async function pinAdd(c: RpcComponents, principal: Principal, args: RpcArgs): Promise<{ Pins: string[] }> {
  const paths = args.argList('ipfs-path')
  if (!args.bool('recursive', true)) throw badArgument('direct pins are not supported by Pinfold: pin recursively')
  const name = args.string('name')
  const pinned: string[] = []
  for (const path of paths) {
    const { cid } = await resolveReadable(c, principal, path)
    await c.repo.runAdd(async () => {
      if (!(await c.repo.blocks.has(cid))) throw notFoundLocally(cid)
      await pinForAccount(c, principal.accountId, cid, name)
    })
    pinned.push(cid.toString())
  }
  return { Pins: pinned }
}

/**
 * `pin/rm`: drops the account's RPC pin of each CID; the registry releases the pin when no
 * reference of any account remains, and the origin repo then unpins and collects it.
 */
export async function pinRm(c: RpcComponents, principal: Principal, args: RpcArgs): Promise<{ Pins: string[] }> {
  const paths = args.argList('ipfs-path')
  const removed: string[] = []
  for (const path of paths) {
    const cid = parsePinArg(path)
    let found = false
    const released: string[] = []
    for (const form of cidForms(cid.toString())) {
      const result = await c.registry.pins.removeReference(form, { kind: RPC_PIN_KIND, id: principal.accountId })
      if (result.removed) found = true
      if (result.released) released.push(form)
    }
    if (!found) throw new KuboRpcError(`${path}: not pinned or pinned indirectly`)
    // the repo pins by multihash: unpin only when no spelling of the CID is referenced any more
    const stillPinned = await Promise.all(cidForms(cid.toString()).map((form) => c.registry.pins.get(form)))
    if (released.length > 0 && stillPinned.every((pin) => pin === undefined)) await c.releaseContent.release(released)
    removed.push(cid.toString())
  }
  return { Pins: removed }
}

/** A pin argument: a CID, optionally as `/ipfs/CID` (paths inside a DAG name no pin). */
function parsePinArg(path: string) {
  const bare = path.startsWith('/ipfs/') ? path.slice('/ipfs/'.length).replace(/\/$/, '') : path
  if (bare.includes('/')) throw new KuboRpcError(`${path}: not pinned or pinned indirectly`)
  return parseCid(bare)
}

export interface PinLsEntry {
  Cid: string
  /** `recursive`, or Kubo's `indirect through <root>` for a block inside a pinned DAG. */
  Type: string
  Name?: string
}

const PAGE = 1000

/**
 * `pin/ls`: the caller's pins — every CID the account keeps (RPC pins, files and folders,
 * Pinning Service requests), all recursive; other accounts' pins never appear. `type=all`
 * (the default) and `type=indirect` also list, as Kubo, every other block of those DAGs as
 * `indirect through <root>` (each once; this walks the DAGs). With arguments, each must be
 * one of them (Kubo: "path '…' is not pinned"). `type=direct` lists nothing: Pinfold keeps
 * whole DAGs only. `name` keeps the pins whose name contains it (as Kubo).
 */
export async function* pinLs(c: RpcComponents, principal: Principal, args: RpcArgs): AsyncGenerator<PinLsEntry> {
  const type = args.string('type') ?? 'all'
  if (!['all', 'recursive', 'direct', 'indirect'].includes(type)) {
    throw badArgument(`invalid type '${type.slice(0, 50)}', must be one of {direct, indirect, recursive, all}`)
  }
  const names = args.bool('names', false)
  // Kubo: only pins whose name contains the value
  const nameFilter = args.string('name')
  const matches = (pin: Pin) => nameFilter === undefined || nameFilter === '' || (pin.name ?? '').includes(nameFilter)
  const present = (pin: Pin, cid = pin.cid, entryType = 'recursive'): PinLsEntry => {
    const entry: PinLsEntry = { Cid: cid, Type: entryType }
    if (names) entry.Name = pin.name ?? ''
    return entry
  }
  const recursive = type === 'all' || type === 'recursive'
  const indirect = type === 'all' || type === 'indirect'
  if (args.args.length > 0) {
    const found: PinLsEntry[] = []
    for (const path of args.args) {
      const cid = (() => {
        try {
          return parsePinArg(path)
        } catch {
          throw new KuboRpcError(`path '${path}' is not pinned`)
        }
      })()
      const pins = await c.registry.pins.listForAccount(principal.accountId, { cids: cidForms(cid.toString()), limit: 10 })
      const pin = pins[0]
      if (pin !== undefined && matches(pin) && recursive) {
        found.push(present(pin, cid.toString()))
        continue
      }
      const through = indirect ? await pinReaching(c, principal, cid, matches) : undefined
      if (through === undefined) throw new KuboRpcError(`path '${path}' is not pinned`)
      found.push(present(through, cid.toString(), `indirect through ${through.cid}`))
    }
    yield* found
    return
  }
  const listed = new Set<string>()
  for await (const pin of accountPins(c, principal, matches)) {
    if (recursive) yield present(pin)
    listed.add(pin.cid)
  }
  if (!indirect) return
  for await (const pin of accountPins(c, principal, matches)) {
    for await (const { cid } of walkDag(c.repo.blocks, parseCid(pin.cid))) {
      const key = cid.toString()
      if (listed.has(key)) continue
      listed.add(key)
      yield present(pin, key, `indirect through ${pin.cid}`)
    }
  }
}

/** The account's pins (those `matches` keeps), page by page. */
async function* accountPins(c: RpcComponents, principal: Principal, matches: (pin: Pin) => boolean): AsyncGenerator<Pin> {
  let after: string | undefined
  for (;;) {
    const page = await c.registry.pins.listForAccount(principal.accountId, after === undefined ? { limit: PAGE } : { after, limit: PAGE })
    for (const pin of page) if (matches(pin)) yield pin
    if (page.length < PAGE) return
    after = page.at(-1)?.cid
  }
}

/** The first of the account's pins whose DAG contains `cid` (walked in the origin repo). */
async function pinReaching(c: RpcComponents, principal: Principal, cid: CID, matches: (pin: Pin) => boolean): Promise<Pin | undefined> {
  const wanted = cid.multihash.bytes
  for await (const pin of accountPins(c, principal, matches)) {
    const root = parseCid(pin.cid)
    // a pin's own root is pinned recursively, not indirectly
    if (equals(root.multihash.bytes, wanted)) continue
    for await (const block of walkDag(c.repo.blocks, root)) {
      if (equals(block.cid.multihash.bytes, wanted)) return pin
    }
  }
  return undefined
}
