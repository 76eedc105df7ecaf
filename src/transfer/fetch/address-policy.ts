import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { InvalidOptionError, PinfoldError } from '../../core/index.ts'

/** Ranges that are not globally reachable unicast (IANA special-purpose registries). */
const NON_GLOBAL_V4 = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const
const NON_GLOBAL_V6 = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds any IPv4 address)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const

const nonGlobal = new BlockList()
for (const [network, prefix] of NON_GLOBAL_V4) nonGlobal.addSubnet(network, prefix, 'ipv4')
for (const [network, prefix] of NON_GLOBAL_V6) nonGlobal.addSubnet(network, prefix, 'ipv6')

/** A connection to an address the policy refuses (the reason users see stays generic). */
export class AddressRefusedError extends PinfoldError {
  constructor(host: string) {
    super('ERR_ADDRESS_REFUSED', `${host} is not a public address (allow it with the origin allow-list)`)
  }
}

export interface AddressPolicyOptions {
  /**
   * What may be reached although not globally routable: CIDR ranges (`10.0.0.0/8`,
   * `fd00::/8`), single addresses (`127.0.0.1`), host names (`gw.internal`) or name
   * suffixes (`*.corp.example`). An allowed name may resolve to any address.
   */
  allow?: readonly string[]
}

/**
 * Which addresses fetches made on a user's behalf may connect to: globally routable
 * unicast only, unless allow-listed. It is enforced on the address actually connected to:
 * `agents` resolve names through a `lookup` that drops refused addresses (so a name cannot
 * resolve to one thing when checked and another when connected — DNS rebinding), and
 * literal addresses, which never go through `lookup`, are checked with `checkHost` before
 * each request and redirect hop. The agents are this policy's own, so a socket opened for
 * an unguarded request is never reused for a guarded one.
 */
export interface AddressPolicy {
  /** Throws `AddressRefusedError` when `hostname` is a literal address the policy refuses. */
  checkHost(hostname: string): void
  /** Keep-alive agents whose connections go only to allowed addresses. */
  readonly agents: { http: HttpAgent; https: HttpsAgent }
}

export function createAddressPolicy(options: AddressPolicyOptions = {}): AddressPolicy {
  const allowed = new BlockList()
  const names = new Set<string>()
  const suffixes: string[] = []
  for (const raw of options.allow ?? []) addAllowed(raw.trim().toLowerCase(), allowed, names, suffixes)
  const nameAllowed = (host: string) => names.has(host.toLowerCase()) || suffixes.some((s) => host.toLowerCase().endsWith(s))
  const addressAllowed = (address: string) => isGlobal(address) || allowed.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')
  const lookup = ((hostname: string, lookupOptions: LookupAllOptions, callback: LookupCallback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, [])
      const usable = nameAllowed(hostname) ? addresses : addresses.filter((a) => addressAllowed(a.address))
      const first = usable[0]
      if (first === undefined) return callback(new AddressRefusedError(hostname), [])
      if (lookupOptions.all === true) return callback(null, usable)
      ;(callback as unknown as (e: null, address: string, family: number) => void)(null, first.address, first.family)
    })
  }) as unknown as LookupFunction
  const socketOptions = { keepAlive: true, timeout: 60_000, lookup }
  return {
    checkHost(hostname) {
      const host = hostname.replace(/^\[(.*)\]$/, '$1')
      if (isIP(host) !== 0 && !addressAllowed(host)) throw new AddressRefusedError(host)
    },
    agents: { http: new HttpAgent(socketOptions), https: new HttpsAgent(socketOptions) },
  }
}

type LookupCallback = (err: Error | null, addresses: LookupAddress[]) => void

/** IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are matched against the IPv4 ranges by `BlockList` itself. */
function isGlobal(address: string): boolean {
  return !nonGlobal.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')
}

function addAllowed(entry: string, ranges: BlockList, names: Set<string>, suffixes: string[]): void {
  if (entry === '') return
  const [network = '', prefix] = entry.split('/')
  const family = isIP(network)
  if (family !== 0) {
    const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix)
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new InvalidOptionError(`invalid range in the allow-list: ${entry}`)
    ranges.addSubnet(network, bits, family === 4 ? 'ipv4' : 'ipv6')
  } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) suffixes.push(entry.slice(1))
  else if (/^[a-z0-9.-]+$/.test(entry) && prefix === undefined) names.add(entry)
  else throw new InvalidOptionError(`invalid entry in the allow-list: ${entry} (a CIDR range, an address or a host name)`)
}
