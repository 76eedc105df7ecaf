import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { assertSafeName } from '../../core/index.ts'

/**
 * Extracts a tar stream into `target`, refusing any name that would land outside it
 * (the same rule as `pinfold get`: a hostile archive writes nothing outside the target).
 * Members under the top-level directory `strip` land directly in `target`, as `-o` names
 * the directory itself.
 */
export async function extractTar(source: Readable, target: string, strip?: string): Promise<void> {
  const root = resolve(target)
  await mkdir(root, { recursive: true })
  const extract = tar.extract()
  const done = (async () => {
    for await (const entry of extract) {
      const segments = entry.header.name.split('/').filter((segment) => segment !== '')
      if (strip !== undefined && segments[0] === strip) segments.shift()
      for (const segment of segments) assertSafeName(segment)
      const path = join(root, ...segments)
      if (path !== root && !path.startsWith(root + sep)) assertSafeName(entry.header.name)
      if (entry.header.type === 'directory') {
        await mkdir(path, { recursive: true })
        entry.resume()
      } else if (entry.header.type === 'file') {
        await mkdir(dirname(path), { recursive: true })
        await pipeline(entry, createWriteStream(path, { flags: 'wx' }))
      } else {
        entry.resume()
      }
    }
  })()
  await Promise.all([pipeline(source, extract), done])
}
