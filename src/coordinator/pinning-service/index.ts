/** The IPFS Pinning Service API v1.0.0 (`/pinning`): requests over the registry's pins, origin fetches, the spec's errors. */
export { badRequest, notFound, PinningApiError, type PinningFailure, toPinningFailure } from './errors.ts'
export { gatewayUrlToMultiaddr, multiaddrToGatewayUrl } from './multiaddr.ts'
export { type FetchDagFn, type FetchState, OriginFetcher, type OriginFetcherOptions } from './origin-fetcher.ts'
export { type PinResultsBody, PinningService, type PinningServiceOptions, type PinStatusBody, QuotaExceededError } from './pinning-service.ts'
export { formatRfc3339, type ListQuery, type PinInput, parseListQuery, parsePin, parseRfc3339 } from './requests.ts'
