import { randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** The generated input of `sizeMiB` MiB, shared by the benchmarks that read one big file. */
export function benchInputFile(sizeMiB: number): string {
  return join(process.cwd(), '.bench-data', 'input', `${sizeMiB}MiB.bin`)
}

/**
 * Writes `sizeMiB` MiB of random bytes to `file`, 1 MiB at a time (incompressible, so no
 * layer can shortcut it). Kept between runs: an existing file of the right size is reused.
 */
export async function generateInput(file: string, sizeMiB: number): Promise<void> {
  const existing = await stat(file).catch(() => undefined)
  if (existing?.size === sizeMiB * 2 ** 20) return
  await mkdir(dirname(file), { recursive: true })
  const handle = await open(file, 'w')
  try {
    const chunk = Buffer.alloc(2 ** 20)
    for (let i = 0; i < sizeMiB; i++) await handle.write(randomFillSync(chunk))
  } finally {
    await handle.close()
  }
}

/** Reads the whole file once, so what follows reads it from the page cache. */
export async function warmPageCache(file: string): Promise<void> {
  for await (const _chunk of createReadStream(file, { highWaterMark: 2 ** 20 })) {
    // reading is the point
  }
}
