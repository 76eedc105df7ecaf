import type { IncomingMessage } from 'node:http'
import { CID } from 'multiformats/cid'
import { InvalidConfigError } from '../config/load-config.ts'

/** The parts of the coordinator's configuration that place user content. */
export interface GatewayOriginOptions {
  /** `publicUrl`: the portal's URL as browsers see it. */
  portalUrl?: string
  /** `gateway.publicUrl`: the separate gateway origin as browsers see it. */
  gatewayUrl?: string
  /** `gateway.subdomains`: `<cid>.ipfs.<gateway host>` is served and the path form redirected there. */
  subdomains: boolean
}

/** Longest DNS label: a CID that does not fit is served in the path form only. */
const MAX_LABEL = 63

/**
 * Where user content is served from, so that it never runs on the portal's origin (where
 * the signed-in session lives): requests that arrived through the separate gateway
 * listener or on a subdomain gateway host are on the gateway's origin; every other
 * request is on the portal's, where content is sandboxed. The portal's origin is the
 * default: a request is only ever trusted less, never more, than its listener warrants.
 *
 * Requests are classified by the `IncomingMessage` they arrived as (marked by the
 * listener or by {@link rewriteUrl}); URLs are fixed once the listeners are up.
 */
export class GatewayOrigin {
  readonly #options: GatewayOriginOptions
  readonly #viaGateway = new WeakSet<IncomingMessage>()
  #portalUrl = ''
  #gatewayUrl: string | undefined

  /** Throws `ERR_INVALID_CONFIG` for a gateway origin that would not separate anything. */
  constructor(options: GatewayOriginOptions) {
    if (options.subdomains && options.gatewayUrl === undefined) {
      throw new InvalidConfigError(['gateway.subdomains needs gateway.publicUrl (its host names the subdomains: <cid>.ipfs.<host>)'])
    }
    if (options.gatewayUrl !== undefined && options.portalUrl !== undefined && new URL(options.gatewayUrl).origin === new URL(options.portalUrl).origin) {
      throw new InvalidConfigError(['gateway.publicUrl must be another origin than publicUrl: user content must not run on the portal’s'])
    }
    this.#options = options
    this.#gatewayUrl = options.gatewayUrl?.replace(/\/+$/, '')
  }

  /** Called once listening: the portal's listen URL, and the gateway listener's (when there is one). */
  setListenUrls(portal: string, gatewayListener?: string): void {
    this.#portalUrl = (this.#options.portalUrl ?? portal).replace(/\/+$/, '')
    this.#gatewayUrl ??= gatewayListener
  }

  /** The portal's base URL: `publicUrl`, else the listen URL (never a request's `Host`). */
  get portalUrl(): string {
    return this.#portalUrl
  }

  /** The separate gateway origin's base URL, or undefined when none is configured. */
  get gatewayUrl(): string | undefined {
    return this.#gatewayUrl
  }

  /** Where links to user content (share links, the portal's gateway links) point. */
  get contentBaseUrl(): string {
    return this.#gatewayUrl ?? this.#portalUrl
  }

  /** Marks a request that arrived through the gateway listener. */
  markGatewayListener(request: IncomingMessage): void {
    this.#viaGateway.add(request)
  }

  /** True when the request is on the portal's origin, where user content must be sandboxed. */
  isPortalOrigin(request: IncomingMessage): boolean {
    return !this.#viaGateway.has(request)
  }

  /** The CID label of a subdomain gateway host (`<label>.ipfs.<gateway host>`), else undefined. */
  subdomainLabel(host: string | undefined): string | undefined {
    const gatewayHost = this.#subdomainHost()
    if (gatewayHost === undefined || host === undefined) return undefined
    const suffix = `.ipfs.${gatewayHost}`
    const lower = host.toLowerCase()
    if (!lower.endsWith(suffix)) return undefined
    const label = lower.slice(0, -suffix.length)
    return /^[a-z0-9]{1,63}$/.test(label) ? label : undefined
  }

  /**
   * Fastify's `rewriteUrl`: a request to `<cid>.ipfs.<gateway host>/a/b` becomes
   * `/ipfs/<cid>/a/b` on the gateway's origin (each CID its own origin, as Kubo).
   */
  rewriteUrl(request: IncomingMessage): string {
    const url = request.url ?? '/'
    const label = this.subdomainLabel(request.headers.host)
    if (label === undefined) return url
    this.#viaGateway.add(request)
    return `/ipfs/${label}${url.startsWith('/') ? url : `/${url}`}`
  }

  /**
   * With the subdomain gateway on, a path-form request on the gateway host is redirected
   * to its subdomain (base32 CIDv1 label), so content never shares one origin across CIDs.
   * Undefined when no redirect is due (or the CID is invalid: the gateway answers that).
   */
  subdomainRedirect(request: IncomingMessage): string | undefined {
    const gatewayHost = this.#subdomainHost()
    const { host } = request.headers
    if (gatewayHost === undefined || host?.toLowerCase() !== gatewayHost || !this.#viaGateway.has(request)) return undefined
    const match = /^\/ipfs\/([^/?#]+)(.*)$/s.exec(request.url ?? '')
    if (!match?.[1]) return undefined
    let label: string
    try {
      label = CID.parse(decodeURIComponent(match[1])).toV1().toString()
    } catch {
      return undefined
    }
    if (label.length > MAX_LABEL) return undefined
    const { protocol } = new URL(this.#gatewayUrl ?? 'http://x')
    const rest = match[2] ?? ''
    return `${protocol}//${label}.ipfs.${gatewayHost}${rest.startsWith('/') ? rest : `/${rest}`}`
  }

  #subdomainHost(): string | undefined {
    if (!this.#options.subdomains || this.#gatewayUrl === undefined) return undefined
    return new URL(this.#gatewayUrl).host.toLowerCase()
  }
}
