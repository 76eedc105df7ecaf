/**
 * The two directions between multiaddrs and HTTP base URLs the Pinning Service API needs:
 * `origins` (client-given multiaddrs) → trustless-gateway URLs to fetch from, and our own
 * gateway URLs → `delegates`. Only HTTP(S) transports are understood; a multiaddr naming
 * anything else (libp2p, QUIC, `/p2p/…` alone, `/dnsaddr/…`) maps to undefined.
 */

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * `/ip4/127.0.0.1/tcp/8080/http`, `/dns4/example.com/tcp/443/https`,
 * `/dns/example.com/tcp/443/tls/http` (optionally `/tls/sni/HOST`, `/http-path/ENC`,
 * a trailing `/p2p/ID`) → `http://127.0.0.1:8080`, `https://example.com`, …
 */
export function multiaddrToGatewayUrl(multiaddr: string): string | undefined {
  if (!multiaddr.startsWith('/')) return undefined
  const parts = multiaddr.slice(1).split('/')
  const [hostProto, host, tcp, port, ...rest] = parts
  if (hostProto === undefined || !HOST_PROTOCOLS.has(hostProto) || host === undefined || host === '') return undefined
  if (tcp !== 'tcp' || port === undefined || !/^\d{1,5}$/.test(port) || Number(port) > 65535) return undefined
  let scheme: 'http' | 'https' | undefined
  let path = ''
  let i = 0
  while (i < rest.length) {
    const p = rest[i]
    if (p === 'http' && scheme === undefined) {
      scheme = 'http'
      i++
    } else if (p === 'https' && scheme === undefined) {
      scheme = 'https'
      i++
    } else if (p === 'tls' && rest[i + 1] === 'http' && scheme === undefined) {
      scheme = 'https'
      i += 2
    } else if (p === 'tls' && rest[i + 1] === 'sni' && rest[i + 3] === 'http' && scheme === undefined) {
      scheme = 'https'
      i += 4
    } else if (p === 'http-path' && scheme !== undefined && rest[i + 1] !== undefined) {
      try {
        path = `/${decodeURIComponent(rest[i + 1] ?? '').replace(/^\/+/, '')}`
      } catch {
        return undefined
      }
      i += 2
    } else if (p === 'p2p' && scheme !== undefined && i + 2 === rest.length) {
      i += 2
    } else {
      return undefined
    }
  }
  if (scheme === undefined) return undefined
  if (hostProto === 'ip4' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return undefined
  if (hostProto === 'ip6' && !/^[0-9a-fA-F:.]+$/.test(host)) return undefined
  if (hostProto.startsWith('dns') && !/^[A-Za-z0-9.-]+$/.test(host)) return undefined
  const hostPart = hostProto === 'ip6' ? `[${host}]` : host
  const defaultPort = scheme === 'https' ? '443' : '80'
  const portPart = Number(port) === Number(defaultPort) ? '' : `:${Number(port)}`
  return `${scheme}://${hostPart}${portPart}${path.replace(/\/+$/, '')}`
}

/** `http://127.0.0.1:8080` → `/ip4/127.0.0.1/tcp/8080/http`; `https://pin.example` → `/dns/pin.example/tcp/443/https`. */
export function gatewayUrlToMultiaddr(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  const scheme = parsed.protocol === 'https:' ? 'https' : parsed.protocol === 'http:' ? 'http' : undefined
  if (scheme === undefined || parsed.hostname === '') return undefined
  const port = parsed.port === '' ? (scheme === 'https' ? 443 : 80) : Number(parsed.port)
  const host = parsed.hostname
  let head: string
  if (host.startsWith('[') && host.endsWith(']')) head = `/ip6/${host.slice(1, -1)}`
  else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) head = `/ip4/${host}`
  else head = `/dns/${host}`
  const path = parsed.pathname.replace(/\/+$/, '')
  const pathPart = path === '' ? '' : `/http-path/${encodeURIComponent(path.slice(1))}`
  return `${head}/tcp/${port}/${scheme}${pathPart}`
}
