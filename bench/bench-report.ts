import { readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'

const BENCHMARKS_MD = new URL('../docs/benchmarks.md', import.meta.url)

/** One line describing the machine a result was measured on. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${process.platform}`
}

/**
 * Replaces the section of docs/benchmarks.md between `<!-- bench:NAME -->` markers
 * (appending it the first time), so each benchmark owns its own section.
 */
export async function writeBenchSection(name: string, markdown: string): Promise<void> {
  const begin = `<!-- bench:${name} -->`
  const end = `<!-- /bench:${name} -->`
  const current = await readFile(BENCHMARKS_MD, 'utf8').catch(() => '# Benchmarks\n')
  const section = `${begin}\n${markdown.trim()}\n${end}`
  const start = current.indexOf(begin)
  const stop = current.indexOf(end)
  const next =
    start >= 0 && stop > start
      ? `${current.slice(0, start)}${section}${current.slice(stop + end.length)}`
      : `${current.trimEnd()}\n\n${section}\n`
  await writeFile(BENCHMARKS_MD, next)
}

export function mbPerSecond(bytes: number, milliseconds: number): number {
  return bytes / 1e6 / (milliseconds / 1000)
}

/** The 1, 5 and 15 minute load averages, for the record of how busy the machine was. */
export function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ')
}

/** Runs `fn` and measures its wall time. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - started }
}
