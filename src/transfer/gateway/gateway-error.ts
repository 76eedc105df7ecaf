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

/**
 * A format that needs converting the block to another codec (`dag-json`, `dag-cbor`, `json`,
 * `cbor`): Pinfold serves blocks as stored, so it cannot produce one. Mapped to 406.
 */
export class NotAcceptableError extends PinfoldError {
  constructor(message: string) {
    super('ERR_NOT_ACCEPTABLE', message, { userError: true })
  }
}
