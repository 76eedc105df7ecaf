/** Bounds on what one client or account can hold at once: connections, slow bodies, heavy reads. */
export { type ConcurrencyLimiter, createConcurrencyLimiter, holdHeavyRead, TooManyHeavyReadsError } from './concurrency-limiter.ts'
export { installRequestBounds, type RequestBoundsOptions, TooManyConnectionsError } from './request-bounds.ts'
