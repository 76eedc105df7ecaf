import cliProgress from 'cli-progress'
import type { CliIo } from './cli-io.ts'
import { formatBytes } from '../core/units.ts'

/** A byte-progress display; a no-op when stderr is not a terminal. */
export interface ByteProgress {
  update(doneBytes: number): void
  stop(): void
}

export function createByteProgress(io: CliIo, totalBytes: number, enabled: boolean): ByteProgress {
  if (!enabled || !io.stderr.isTTY) return { update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: ' {bar} {percentage}% | {doneText} / {totalText} | {speed}/s',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const started = performance.now()
  const payload = (done: number) => ({
    doneText: formatBytes(done),
    totalText: formatBytes(totalBytes),
    speed: formatBytes(Math.round(done / Math.max((performance.now() - started) / 1000, 0.001))),
  })
  bar.start(Math.max(totalBytes, 1), 0, payload(0))
  return {
    update: (done) => bar.update(Math.min(done, Math.max(totalBytes, 1)), payload(done)),
    stop: () => bar.stop(),
  }
}
