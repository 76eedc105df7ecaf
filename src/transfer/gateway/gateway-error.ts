import { PinfoldError } from '../../core/index.ts'

/**
 * A gateway request that cannot be answered as asked (bad parameter, unsupported
 * format or CAR variant). Always a client mistake: mapped to HTTP 400.
 */
export class InvalidGatewayRequestError extends PinfoldError {
  constructor(message: string) {
    super('ERR_INVALID_GATEWAY_REQUEST', message, { userError: true })
  }
}

/**
 * A byte range (`entity-bytes`) that lies entirely outside the entity. Mapped to 400,
 * as the trustless gateway spec asks when the gateway can tell before streaming.
 */
export class RangeOutsideEntityError extends PinfoldError {
  constructor(message: string) {
    super('ERR_RANGE_OUTSIDE_ENTITY', message, { userError: true })
  }
}
