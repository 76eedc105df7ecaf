import { InvalidOptionError } from './errors.ts'

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
}

/** Parses `0`, `1048576`, `500MB`, `10GiB` (decimal and binary units) into bytes. */
export function parseByteSize(input: string, what = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input)
  const factor = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined
  if (!match || factor === undefined) {
    throw new InvalidOptionError(`invalid ${what} ${JSON.stringify(input)}: use a number of bytes or e.g. 500MB, 10GiB`)
  }
  return Math.round(Number(match[1]) * factor)
}

/** Formats bytes for people: 1.5 GiB, 12.0 MiB, 512 B. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Parses a non-negative integer option value (offsets, lengths, weights). */
export function parseCount(input: string, what: string): number {
  if (!/^\d+$/.test(input.trim())) throw new InvalidOptionError(`invalid ${what} ${JSON.stringify(input)}: expected a non-negative integer`)
  return Number(input)
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses `500ms`, `30s`, `15m`, `1h`, `7d` (or plain milliseconds) into milliseconds. */
export function parseDuration(input: string, what = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input)
  if (!match) throw new InvalidOptionError(`invalid ${what} ${JSON.stringify(input)}: use e.g. 30s, 15m, 1h, 7d`)
  return Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1))
}
