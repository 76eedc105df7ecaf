import { readFile } from 'node:fs/promises'
import type { TSchema } from 'typebox'
import Value from 'typebox/value'
import { PinfoldError } from '../../core/index.ts'
import { parseByteSize } from '../../core/units.ts'
import { type CoordinatorConfig, CoordinatorConfigSchema } from './config-schema.ts'

/** Where each configured value came from, so an error can name the place to fix. */
type Origin = 'default' | `file ${string}` | `env ${string}` | `flag --${string}`

export interface ConfigSources {
  /** Path of a JSON config file; a missing file is an error only when given explicitly. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Flag values by key path (`listen`, `db`, `auth.tokenTtlSeconds`). */
  flags?: Record<string, string | undefined>
}

export class InvalidConfigError extends PinfoldError {
  constructor(problems: string[]) {
    super('ERR_INVALID_CONFIG', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      userError: true,
    })
  }
}

/**
 * Builds the effective configuration: defaults ← file ← environment ← flags, coerced to
 * the schema's types and validated as a whole; every bad value is reported at once,
 * each with where it came from.
 */
export async function loadCoordinatorConfig(sources: ConfigSources): Promise<CoordinatorConfig> {
  const merged: Record<string, unknown> = {}
  const origins = new Map<string, Origin>()
  const problems: string[] = []
  if (sources.file) {
    const fromFile = await readConfigFile(sources.file)
    for (const [path, value] of flatten(fromFile)) set(merged, origins, path, value, `file ${sources.file}`)
  }
  for (const path of leafPaths(CoordinatorConfigSchema)) {
    const name = envName(path)
    const value = sources.env?.[name]
    if (value !== undefined && value !== '') set(merged, origins, path, coerce(path, value), `env ${name}`)
  }
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) set(merged, origins, path, coerce(path, value), `flag --${kebab(path)}`)
  }
  const withDefaults = Value.Default(CoordinatorConfigSchema, merged)
  for (const error of Value.Errors(CoordinatorConfigSchema, withDefaults)) {
    const path = error.instancePath.slice(1).replaceAll('/', '.')
    if (error.keyword === 'boolean') continue // reported by its additionalProperties twin
    const unknown = (error.params as { additionalProperties?: string[] }).additionalProperties
    if (unknown) {
      for (const key of unknown) problems.push(`${path ? `${path}.` : ''}${key}: unknown setting`)
      continue
    }
    problems.push(`${path || '(root)'} (from ${origins.get(path) ?? 'default'}): ${error.message}`)
  }
  if (problems.length > 0) throw new InvalidConfigError([...new Set(problems)])
  return withDefaults as CoordinatorConfig
}

async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new InvalidConfigError([`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code}`])
  }
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
    return parsed as Record<string, unknown>
  } catch (error) {
    throw new InvalidConfigError([`config file ${file} is not a JSON object: ${(error as Error).message}`])
  }
}

function set(target: Record<string, unknown>, origins: Map<string, Origin>, path: string, value: unknown, origin: Origin) {
  const keys = path.split('.')
  let node = target
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[keys.at(-1) ?? path] = value
  origins.set(path, origin)
}

function* flatten(value: Record<string, unknown>, prefix = ''): Generator<[string, unknown]> {
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (child !== null && typeof child === 'object' && !Array.isArray(child)) yield* flatten(child as Record<string, unknown>, path)
    else yield [path, child]
  }
}

function* leafPaths(schema: TSchema, prefix = ''): Generator<string> {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties
  for (const [key, child] of Object.entries(properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    if ((child as { type?: string }).type === 'object') yield* leafPaths(child, path)
    else yield path
  }
}

function schemaAt(path: string): { type?: string; description?: string } | undefined {
  let node: unknown = CoordinatorConfigSchema
  for (const key of path.split('.')) node = (node as { properties?: Record<string, unknown> }).properties?.[key]
  return node as { type?: string; description?: string } | undefined
}

/** Strings from env and flags become the schema's type; what cannot be read is left for validation to report. */
function coerce(path: string, raw: string): unknown {
  const schema = schemaAt(path)
  if (schema?.type === 'integer' || schema?.type === 'number') {
    if (/^-?\d+(\.\d+)?$/.test(raw.trim())) return Number(raw)
    if (schema.description?.includes('(bytes')) {
      try {
        return parseByteSize(raw)
      } catch {
        return raw
      }
    }
  }
  if (schema?.type === 'array') return raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
  if (schema?.type === 'boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw
  return raw
}

export function envName(path: string): string {
  return `PINFOLD_${path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replaceAll('.', '_').toUpperCase()}`
}

function kebab(path: string): string {
  return path.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replaceAll('.', '-').toLowerCase()
}
