// Types of the cluster routes' bodies (nodes, pins), derived from the generated OpenAPI types
// (src/coordinator/http/routes/node-routes.ts declares their response schemas). Regenerate with
// `npm run openapi:export` when those change.
import type { paths } from './schema'

type JsonOf<T> = T extends { content: { 'application/json': infer B } } ? B : never

export type NodeInfo = JsonOf<paths['/api/v1/nodes']['get']['responses'][200]>['nodes'][number]
export type NodeStatus = NodeInfo['status']
export type StoragePathInfo = NodeInfo['storage'][number]

export type UnderReplicatedPin = JsonOf<paths['/api/v1/pins']['get']['responses'][200]>['pins'][number]

export type PinStatus = JsonOf<paths['/api/v1/pins/{cid}/status']['get']['responses'][200]>
export type AllocationStatus = PinStatus['allocations'][number]['status']
