/** Where user content is served: the gateway's own origin, and the portal's sandboxed one. */
export { type GatewayListener, listenGateway } from './gateway-listener.ts'
export { GatewayOrigin, type GatewayOriginOptions } from './gateway-origin.ts'
