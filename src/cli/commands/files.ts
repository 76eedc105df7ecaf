import { createWriteStream } from 'node:fs'
import { readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { PinfoldError } from '../../core/index.ts'
import { type ApiClient, sessionClient } from '../client/api-client.ts'
import { type MultipartFile, multipartBody } from '../client/multipart-body.ts'
import { extractTar } from '../client/extract-tar.ts'
import type { CliContext } from '../cli-context.ts'
import { createByteProgress } from '../progress-bar.ts'

/** An entry as the files API returns it. */
interface EntryView {
  id: string
  name: string
  path: string
  kind: 'directory' | 'folder' | 'file'
  cid: string | null
  size: number
  mtime: string | null
}

export function registerFiles(program: Command, ctx: CliContext): void {
  const files = program.command('files').description('your files on a coordinator (after `pinfold login`)')
  files
    .command('upload')
    .description('upload files and directories')
    .argument('<paths...>')
    .option('--to <dir>', 'target directory', '/Library')
    .option('--folder', 'upload each directory as one immutable folder (one CID) instead of a file per CID')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar')
    .action(async (paths: string[], flags: { to: string; folder?: boolean; json?: boolean; progress: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const local = await collectFiles(paths)
      const total = local.reduce((sum, file) => sum + file.size, 0)
      const progress = createByteProgress(ctx.io, total, flags.progress && !flags.json)
      const mode = flags.folder ? 'folder' : 'files'
      const upload = multipartBody({ path: flags.to, mode }, local, (sent) => progress.update(sent))
      let result: { upload: { id: string; status: string; entries?: EntryView[] } }
      try {
        result = await client.json('POST', '/api/v1/uploads', {
          body: upload.body,
          headers: { 'content-type': upload.contentType, 'content-length': String(upload.contentLength) },
        })
      } finally {
        progress.stop()
      }
      if (flags.json) return ctx.printJson(result.upload)
      for (const entry of result.upload.entries ?? []) ctx.print(`uploaded ${entry.cid} ${entry.path}`)
      ctx.print(`upload ${result.upload.id}: ${result.upload.status}`)
    })
  files
    .command('ls')
    .description('list a directory (or show one entry)')
    .argument('[path]', 'directory path', '/Library')
    .option('--json', 'print as JSON')
    .action(async (path: string, flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const entry = await entryAt(client, path)
      const items = entry.kind === 'directory' ? await listAll(client, entry.id) : [entry]
      if (flags.json) return ctx.printJson(items)
      for (const item of items) {
        const name = item.kind === 'directory' ? `${item.name}/` : item.name
        ctx.print(`${(item.cid ?? '-').padEnd(59)} ${String(item.size).padStart(12)} ${item.kind.padEnd(9)} ${name}`)
      }
    })
  files
    .command('get')
    .description('download a file, or a folder/directory (extracted from its tar stream)')
    .argument('<path>')
    .option('-o, --output <target>', 'file or directory to write (default: the entry name in the current directory)')
    .action(async (path: string, flags: { output?: string }) => {
      const client = await sessionClient(ctx.io.env)
      const entry = await entryAt(client, path)
      const target = resolve(flags.output ?? entry.name)
      const response = await client.fetch('GET', `/api/v1/entries/${encodeURIComponent(entry.id)}/content`)
      const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>)
      if (entry.kind === 'file') {
        // a partial download never takes the target's name
        const partial = `${target}.partial`
        await pipeline(body, createWriteStream(partial)).catch(async (error) => {
          await rm(partial, { force: true })
          throw error
        })
        await rename(partial, target)
      } else {
        await extractTar(body, target, entry.name)
      }
      ctx.print(`saved ${entry.path} to ${target}`)
    })
  files
    .command('mkdir')
    .description('create a directory (and its parents)')
    .argument('<path>')
    .action(async (path: string) => {
      const client = await sessionClient(ctx.io.env)
      const created = await client.json<EntryView>('POST', '/api/v1/directories', { json: { path, parents: true } })
      ctx.print(`created ${created.path}`)
    })
  files
    .command('mv')
    .description('rename or move an entry: mv /Library/a.txt /Library/docs/b.txt')
    .argument('<from>')
    .argument('<to>')
    .action(async (from: string, to: string) => {
      const client = await sessionClient(ctx.io.env)
      const entry = await entryAt(client, from)
      const slash = to.lastIndexOf('/')
      const parentPath = to.slice(0, slash) || '/'
      const moved = await client.json<EntryView>('PATCH', `/api/v1/entries/${encodeURIComponent(entry.id)}`, {
        json: { name: to.slice(slash + 1), parentPath },
      })
      ctx.print(`moved ${entry.path} to ${moved.path}`)
    })
  files
    .command('rm')
    .description('delete an entry; a non-empty directory needs --recursive')
    .argument('<path>')
    .option('-r, --recursive', 'delete a directory with its contents')
    .option('--json', 'print as JSON')
    .action(async (path: string, flags: { recursive?: boolean; json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const entry = await entryAt(client, path)
      const result = await client.json<{ removedEntries: number; releasedCids: string[]; stillReferenced?: string[] }>(
        'DELETE',
        `/api/v1/entries/${encodeURIComponent(entry.id)}`,
        { query: flags.recursive ? { recursive: true, confirm: entry.name } : {} },
      )
      if (flags.json) return ctx.printJson(result)
      ctx.print(`removed ${result.removedEntries} entr${result.removedEntries === 1 ? 'y' : 'ies'} under ${entry.path}`)
      if (result.releasedCids.length > 0) ctx.print(`no longer stored for this account: ${result.releasedCids.join(' ')}`)
      if (result.stillReferenced?.length) ctx.print(`still held by this account's other files or pins: ${result.stillReferenced.join(' ')}`)
    })
}

async function entryAt(client: ApiClient, path: string): Promise<EntryView> {
  return client.json<EntryView>('GET', '/api/v1/entries', { query: { path } })
}

async function listAll(client: ApiClient, id: string): Promise<EntryView[]> {
  const items: EntryView[] = []
  let cursor: string | undefined
  do {
    const page = await client.json<{ items: EntryView[]; nextCursor?: string | null }>(
      'GET',
      `/api/v1/entries/${encodeURIComponent(id)}/children`,
      { query: { limit: 1000, cursor } },
    )
    items.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return items
}

/** Local files to send, named by their path relative to each argument's parent. */
async function collectFiles(paths: string[]): Promise<MultipartFile[]> {
  const found: MultipartFile[] = []
  const visit = async (source: string, name: string): Promise<void> => {
    const info = await stat(source).catch((error: NodeJS.ErrnoException) => {
      throw new PinfoldError('ERR_FILE_UNREADABLE', `cannot read ${source}: ${error.code}`, { userError: true })
    })
    if (info.isFile()) found.push({ name, source, size: info.size })
    else if (info.isDirectory()) {
      for (const child of (await readdir(source)).sort()) await visit(join(source, child), `${name}/${child}`)
    }
  }
  for (const path of paths) await visit(resolve(path), basename(resolve(path)))
  return found
}
