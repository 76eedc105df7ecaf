import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Bit rot on disk: in every pack file under `dir` (recursively), inverts `perPack` bytes spread
 * evenly over the file. Returns how many pack files were changed.
 */
export async function flipPackBytes(dir: string, perPack = 1): Promise<number> {
  let flipped = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.pack')) continue
    const handle = await open(join(entry.parentPath, entry.name), 'r+')
    try {
      const { size } = await handle.stat()
      const byte = Buffer.alloc(1)
      for (let i = 1; i <= perPack; i++) {
        const at = Math.floor((size * i) / (perPack + 1))
        await handle.read(byte, 0, 1, at)
        byte[0] = (byte[0] as number) ^ 0xff
        await handle.write(byte, 0, 1, at)
      }
      flipped++
    } finally {
      await handle.close()
    }
  }
  return flipped
}
