import type { CID } from 'multiformats/cid'
import type { DagEntry } from '../../core/index.ts'

/** What a listing page shows about the directory itself. */
export interface ListingTarget {
  /** Decoded content path, e.g. `/ipfs/bafy…/docs`. */
  contentPath: string
  cid: CID
  /** True when a link to the parent directory makes sense (not at the root CID). */
  hasParent: boolean
  /** A query string (`?share=…`) carried on the relative links so a share link keeps working. */
  linkQuery?: string
}

/** `Content-Security-Policy` for listing pages: no scripts, no external resources. */
export const LISTING_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

/**
 * Streams an HTML index of a directory, one row per entry as `entries` yields them, so a
 * huge (sharded) directory is never held in memory. Every name, path and CID is
 * HTML-escaped and every link percent-encoded: a file named `<script>…` is inert text.
 * Links are relative to the directory URL, which always ends with `/` here.
 */
export async function* renderDirectoryListing(
  target: ListingTarget,
  entries: AsyncIterable<DagEntry>,
): AsyncGenerator<string> {
  yield listingHead(target)
  for await (const entry of entries) yield listingRow(entry, target.linkQuery ?? '')
  yield '</tbody>\n</table>\n</body>\n</html>\n'
}

function listingHead(target: ListingTarget): string {
  const title = escapeHtml(target.contentPath)
  const parent = target.hasParent ? '<tr><td><a href="../">..</a></td><td></td><td></td></tr>\n' : ''
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of ${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;text-align:left}td.size{text-align:right}code{font-size:.85em;color:#555}</style>
</head>
<body>
<h1>Index of ${title}</h1>
<p><code>${escapeHtml(target.cid.toString())}</code></p>
<table>
<thead><tr><th>Name</th><th>Size</th><th>CID</th></tr></thead>
<tbody>
${parent}`
}

function listingRow(entry: DagEntry, linkQuery: string): string {
  const isDirectory = entry.type === 'directory'
  const href = encodeURIComponent(entry.name) + (isDirectory ? '/' : '') + linkQuery
  const cid = entry.cid.toString()
  const cidHref = `/ipfs/${cid}?filename=${encodeURIComponent(entry.name)}`
  const size = isDirectory ? '' : formatBytes(entry.size)
  const name = escapeHtml(entry.name) + (isDirectory ? '/' : '')
  return `<tr><td><a href="${escapeHtml(href)}">${name}</a></td><td class="size" title="${entry.size} bytes">${size}</td><td><a href="${escapeHtml(cidHref)}"><code>${escapeHtml(cid)}</code></a></td></tr>\n`
}

/** Escapes text for HTML content and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** `1.5 KiB`-style sizes for people. */
function formatBytes(size: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = Number(size)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}
