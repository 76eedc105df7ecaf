export { OriginRepairer, type OriginRepairOptions } from './origin-repair.ts'
