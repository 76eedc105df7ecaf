import assert from 'node:assert/strict'
import { unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { PackReaders } from '../../src/repo/pack-readers.ts'
import { tempDir } from './helpers.ts'

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('PackReaders', () => {
  it('keeps the most recently used handles open, closes the others, and forgets deleted files', async () => {
    const dir = await tempDir()
    const files = ['a', 'b', 'c'].map((name) => join(dir, `${name}.pack`))
    for (const [i, file] of files.entries()) await writeFile(file, `pack-${i}-bytes`)
    const readers = new PackReaders(2)
    const [a, b, c] = files as [string, string, string]
    assert.equal(text(await readers.read(a, 5, 1)), '0')
    assert.equal(text(await readers.read(b, 0, 6)), 'pack-1')
    assert.equal(text(await readers.read(c, 7, 5)), 'bytes')
    // a was evicted (least recently used): its file is opened anew and is gone
    await unlink(a)
    await assert.rejects(readers.read(a, 0, 1), { code: 'ENOENT' })
    // c is still open: an unlinked file stays readable through it until forgotten
    await unlink(c)
    assert.equal(text(await readers.read(c, 0, 6)), 'pack-2')
    readers.forget(c)
    await assert.rejects(readers.read(c, 0, 1), { code: 'ENOENT' })
    // a failed open is not cached
    await writeFile(a, 'again')
    assert.equal(text(await readers.read(a, 0, 5)), 'again')
    // short reads at the end of a file
    assert.equal((await readers.read(b, 10, 100)).byteLength, 2)
    readers.close()
    assert.equal(text(await readers.read(b, 0, 4)), 'pack')
  })
})
