/** Content types by lower-case file extension: a small built-in table. */
const BY_EXTENSION: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  pdf: 'application/pdf',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  wasm: 'application/wasm',
  woff: 'font/woff',
  woff2: 'font/woff2',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  car: 'application/vnd.ipld.car',
}

/** How many leading bytes {@link sniffContentType} looks at. */
export const SNIFF_LENGTH = 512

export const OCTET_STREAM = 'application/octet-stream'
const TEXT_PLAIN = 'text/plain; charset=utf-8'

/** The content type for a file name's extension, or `undefined` when not in the table. */
export function contentTypeForName(name: string): string | undefined {
  const dot = name.lastIndexOf('.')
  if (dot < 0 || dot === name.length - 1) return undefined
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()]
}

/**
 * Types a browser runs scripts in when it renders them as a document: HTML, SVG and
 * XML (which may embed XHTML). Sniffing never yields them, `?filename=` never selects
 * them, and where the portal shares the origin they are sent as attachments.
 */
export function isActiveContentType(contentType: string): boolean {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return type === 'text/html' || type === 'text/xml' || type === 'application/xml' || type.endsWith('+xml')
}

/** Signatures recognised at the start of a file. */
const MAGIC: readonly { type: string; test: (head: Uint8Array) => boolean }[] = [
  { type: 'image/png', test: (h) => startsWith(h, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { type: 'image/jpeg', test: (h) => startsWith(h, [0xff, 0xd8, 0xff]) },
  { type: 'image/gif', test: (h) => startsWithText(h, 'GIF87a') || startsWithText(h, 'GIF89a') },
  { type: 'application/pdf', test: (h) => startsWithText(h, '%PDF-') },
  { type: 'image/webp', test: (h) => startsWithText(h, 'RIFF') && startsWithText(h.subarray(8), 'WEBP') },
  { type: 'application/wasm', test: (h) => startsWith(h, [0x00, 0x61, 0x73, 0x6d]) },
  { type: 'application/gzip', test: (h) => startsWith(h, [0x1f, 0x8b]) },
  { type: 'application/zip', test: (h) => startsWith(h, [0x50, 0x4b, 0x03, 0x04]) },
]

/**
 * Guesses a content type from a file's first bytes: known binary signatures, then
 * UTF-8 text without control characters as `text/plain`, else octet-stream.
 *
 * HTML and SVG are deliberately never sniffed (they would execute scripts on the
 * gateway's origin); they get their types only from a `.html`/`.svg` name.
 */
export function sniffContentType(head: Uint8Array): string {
  if (head.byteLength === 0) return TEXT_PLAIN
  for (const magic of MAGIC) if (magic.test(head)) return magic.type
  return looksLikeText(head) ? TEXT_PLAIN : OCTET_STREAM
}

function looksLikeText(head: Uint8Array): boolean {
  for (const byte of head) {
    // Control characters other than tab, LF, FF, CR and ESC mark binary data.
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0c && byte !== 0x0d && byte !== 0x1b) return false
  }
  try {
    // `stream: true` tolerates a multi-byte character cut by the sniff window.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true })
    return true
  } catch {
    return false
  }
}

function startsWith(head: Uint8Array, prefix: readonly number[]): boolean {
  return head.byteLength >= prefix.length && prefix.every((byte, i) => head[i] === byte)
}

function startsWithText(head: Uint8Array, prefix: string): boolean {
  return startsWith(head, [...prefix].map((c) => c.charCodeAt(0)))
}
