import { pino } from 'pino'

/** Which process-level hook caught the error. */
export type ProcessFaultKind = 'unhandledRejection' | 'uncaughtException'

/**
 * Keeps a long-running server (`pinfold serve`, `start`, `node`) up when an error escapes
 * every handler — a library's promise nobody awaits, a throw in a stream callback: it is
 * logged (component `process`) and counted through `onFault`, and the process keeps serving.
 * A bug behind one request must not take every other request and replication job with it.
 * The causes found so far are fixed where they arise (e.g. core's own file walker); this is
 * the net under them. Installing it twice adds a second pair of listeners: call it once per
 * process. Returns a function that removes the listeners.
 */
export function installCrashGuard(options: { logLevel?: string; onFault?: (kind: ProcessFaultKind) => void } = {}): () => void {
  const logger = pino({ level: options.logLevel ?? 'info' }).child({ component: 'process' })
  const handle = (kind: ProcessFaultKind) => (err: unknown) => {
    logger.error({ err, kind }, 'an error escaped every handler; still serving')
    try {
      options.onFault?.(kind)
    } catch {
      // counting must never throw from inside the handler itself
    }
  }
  const onRejection = handle('unhandledRejection')
  const onException = handle('uncaughtException')
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
}
