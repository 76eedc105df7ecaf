import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * The portal's refresh cookie. HttpOnly (page scripts never see it), SameSite=Strict (no
 * other site can make the browser send it), Secure when the request came over https, and
 * scoped to `/api/v1/auth` so it travels only to the routes that renew or end a session.
 */
export const SESSION_COOKIE = 'pinfold_session'
const COOKIE_PATH = '/api/v1/auth'

/** The refresh token of the request's session cookie, if any. */
export function sessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return undefined
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, refreshToken: string, expiresAt: number): void {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000))
  reply.header('set-cookie', cookie(request, `${SESSION_COOKIE}=${encodeURIComponent(refreshToken)}`, maxAge))
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', cookie(request, `${SESSION_COOKIE}=`, 0))
}

function cookie(request: FastifyRequest, pair: string, maxAge: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : ''
  return `${pair}; Max-Age=${maxAge}; Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict${secure}`
}
