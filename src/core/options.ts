/** Options every async I/O function takes last. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** A progress event: a stable `type` and event-specific detail. */
export interface ProgressEvent<T extends string = string, D = unknown> {
  type: T
  detail: D
}

export interface ProgressOptions<E extends ProgressEvent = ProgressEvent> extends AbortOptions {
  onProgress?: (event: E) => void
}
