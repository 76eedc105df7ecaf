export { installRequestCounting } from './request-counting.ts'
export { createUsageMeter, type UsageMeter, type UsageMeterOptions } from './usage-meter.ts'
