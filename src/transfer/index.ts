/**
 * Moving DAGs between machines: the IPFS gateway handler (trustless + path gateway)
 * and its adapter onto node:http.
 */
export * from './gateway/index.ts'
export type { ServeOptions, ServedHandler } from './node-http-adapter.ts'
export { serveHandler, toWebRequest, writeWebResponse } from './node-http-adapter.ts'
export * from './fetch/index.ts'
