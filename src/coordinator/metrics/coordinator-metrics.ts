import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The coordinator's Prometheus metrics, in a registry of its own (no global state, so
 * several coordinators can live in one process, as in tests).
 */
export interface CoordinatorMetrics {
  readonly registry: Registry
  readonly httpRequests: Histogram<'method' | 'route' | 'status'>
  readonly bytesIn: Counter
  readonly bytesOut: Counter
  readonly uploads: Counter<'status'>
  readonly registryQueries: Histogram
  /** Errors caught by the process-level guard (`src/cli/crash-guard.ts`), by hook. */
  readonly processFaults: Counter<'kind'>
  /** Blocks whose bytes did not match their CID when read, by what happened next. */
  readonly corruptBlocks: Counter<'outcome'>
  /** Storage challenges sent to nodes, by outcome (passed, failed, unreachable). */
  readonly storageProofs: Counter<'outcome'>
  /** Sets a gauge's value source, read at scrape time. */
  gauge(name: string, help: string, read: () => Promise<number> | number): void
}

export function createCoordinatorMetrics(): CoordinatorMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'pinfold_' })
  return {
    registry,
    httpRequests: new Histogram({
      name: 'pinfold_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    bytesIn: new Counter({ name: 'pinfold_bytes_received_total', help: 'bytes uploaded by clients', registers: [registry] }),
    bytesOut: new Counter({ name: 'pinfold_bytes_sent_total', help: 'content bytes downloaded by clients', registers: [registry] }),
    uploads: new Counter({ name: 'pinfold_uploads_total', help: 'uploads finished, by outcome', labelNames: ['status'], registers: [registry] }),
    processFaults: new Counter({
      name: 'pinfold_process_faults_total',
      help: 'errors that escaped every handler (logged; the process kept serving)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    corruptBlocks: new Counter({
      name: 'pinfold_corrupt_blocks_total',
      help: 'blocks that failed their hash check when read (outcome: repaired, unrepaired)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    storageProofs: new Counter({
      name: 'pinfold_storage_proofs_total',
      help: 'storage challenges sent to nodes (outcome: passed, failed, unreachable)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    registryQueries: new Histogram({
      name: 'pinfold_registry_query_duration_seconds',
      help: 'registry (SQL) query latency',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
    gauge(name, help, read) {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(await read())
        },
      })
    },
  }
}
