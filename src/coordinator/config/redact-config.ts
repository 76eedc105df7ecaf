import type { CoordinatorConfig } from './config-schema.ts'
import { SECRET_KEYS } from './config-schema.ts'

/** A copy of the configuration safe to print or log: secrets become `[redacted]`. */
export function redactConfig(config: CoordinatorConfig): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>
  for (const path of SECRET_KEYS) {
    const keys = path.split('.')
    let node = copy
    for (const key of keys.slice(0, -1)) node = (node[key] ?? {}) as Record<string, unknown>
    const last = keys.at(-1) ?? path
    if (node[last] !== undefined) node[last] = '[redacted]'
  }
  return copy
}
