export { type BillingService, createBillingService } from './billing-service.ts'
export {
  computeStatements,
  egressCents,
  formatCents,
  gbMonths,
  type PeriodBounds,
  type PeriodInput,
  type PeriodUsage,
  periodAt,
  periodBounds,
  type PriceList,
  type Statement,
  type StatementStatus,
  storageCents,
  toCents,
} from './statement-calculator.ts'
