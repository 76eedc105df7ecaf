export type { CarOptions, DagScope, EntityBytes } from './car-options.ts'
export type { GatewayHandler, GatewayOptions } from './gateway-handler.ts'
export { createGatewayHandler } from './gateway-handler.ts'
export { InvalidGatewayRequestError, RangeOutsideEntityError } from './gateway-error.ts'
