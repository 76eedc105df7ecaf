import { stat } from 'node:fs/promises'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { type Command, Option } from 'commander'
import { type ImportedEntry, type ImportOptions, InvalidOptionError, importPaths, type ProfileName } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'
import { parseCount } from '../../core/units.ts'
import type { CliContext } from '../cli-context.ts'
import { createByteProgress } from '../progress-bar.ts'

interface AddFlags {
  profile: ProfileName
  cidVersion?: string
  rawLeaves?: boolean
  chunker?: string
  preserveMtime?: boolean
  preserveMode?: boolean
  wrapWithDirectory?: boolean
  pin: boolean
  json?: boolean
  quiet?: boolean
  progress: boolean
}

export function registerAdd(program: Command, ctx: CliContext): void {
  program
    .command('add')
    .description('import files and directories (recursively) into the repository and pin them')
    .argument('<paths...>', 'files or directories to add')
    .addOption(new Option('--profile <name>', 'import profile').choices(['kubo', 'v1-2025']).default('kubo'))
    .option('--cid-version <n>', 'CID version (0 or 1); 1 implies raw leaves unless --no-raw-leaves')
    .option('--raw-leaves', 'store leaves as raw blocks')
    .option('--no-raw-leaves', 'wrap leaves in UnixFS dag-pb nodes')
    .option('--chunker <spec>', 'chunker, size-N (e.g. size-262144)')
    .option('--preserve-mtime', 'record modification times')
    .option('--preserve-mode', 'record file modes')
    .option('-w, --wrap-with-directory', 'wrap everything in one directory')
    .option('--no-pin', 'do not pin what was added')
    .option('--json', 'one JSON object per added entry')
    .option('-Q, --quiet', 'print only the root CID(s)')
    .option('--no-progress', 'no progress bar')
    .action(async (paths: string[], flags: AddFlags) => {
      const options = importOptionsFrom(flags)
      const totalBytes = await totalSize(paths)
      const progress = createByteProgress(ctx.io, totalBytes, flags.progress && !flags.quiet && !flags.json)
      const perFile = new Map<string, number>()
      let done = 0
      options.onProgress = (event) => {
        done += event.detail.bytes - (perFile.get(event.detail.path) ?? 0)
        perFile.set(event.detail.path, event.detail.bytes)
        progress.update(done)
      }
      try {
        await ctx.withRepo((repo) =>
          repo.runAdd(async () => {
            const roots = await addAndReport(repo, paths, options, flags, ctx)
            if (flags.pin) for (const root of roots) await repo.pins.add(root.cid, { recursive: true, name: root.path })
          }),
        )
      } finally {
        progress.stop()
      }
    })
}

async function addAndReport(
  repo: Repo,
  paths: string[],
  options: ImportOptions,
  flags: AddFlags,
  ctx: CliContext,
): Promise<ImportedEntry[]> {
  const roots: ImportedEntry[] = []
  for await (const entry of importPaths(paths, repo.blocks, options)) {
    const isRoot = flags.wrapWithDirectory ? entry.path === '' : !entry.path.includes('/')
    if (isRoot) roots.push(entry)
    if (flags.json) ctx.printJson({ path: entry.path, cid: entry.cid, size: entry.size, type: entry.type })
    else if (!flags.quiet) ctx.print(`added ${entry.cid} ${entry.path}`.trimEnd())
  }
  if (flags.quiet) for (const root of roots) ctx.print(root.cid.toString())
  return roots
}

function importOptionsFrom(flags: AddFlags): ImportOptions {
  const options: ImportOptions = { profile: flags.profile }
  if (flags.cidVersion !== undefined) {
    const version = parseCount(flags.cidVersion, '--cid-version')
    if (version !== 0 && version !== 1) throw new InvalidOptionError('--cid-version must be 0 or 1')
    options.cidVersion = version
  }
  if (flags.rawLeaves !== undefined) options.rawLeaves = flags.rawLeaves
  if (flags.chunker !== undefined) options.chunker = flags.chunker
  if (flags.preserveMtime) options.preserveMtime = true
  if (flags.preserveMode) options.preserveMode = true
  if (flags.wrapWithDirectory) options.wrapWithDirectory = true
  return options
}

/** Total bytes of regular files under the given paths, for the progress bar. */
async function totalSize(paths: string[]): Promise<number> {
  let total = 0
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined)
    if (info?.isFile()) total += info.size
    else if (info?.isDirectory()) {
      const children = await readdir(path).catch(() => [])
      total += await totalSize(children.map((name) => join(path, name)))
    }
  }
  return total
}
