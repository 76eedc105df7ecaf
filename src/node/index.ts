/**
 * The storage node: joins a coordinator over the control channel, keeps its desired pins
 * (change feed + anti-entropy) with a persisted executor, serves its repo to peers, repairs
 * damaged DAGs and ingests a drop folder. `startNode` is the composition root.
 */
export type { NodeConfig, NodeConfigInput, StoragePathSpec } from './config.ts'
export { parseBandwidth, parseListen, parseStoragePathSpec, parseTag, resolveNodeConfig } from './config.ts'
export type { RunningNode, StartNodeOptions } from './main.ts'
export { NODE_STATE_FILE, NODE_VERSION, startNode } from './main.ts'
export { ControlClient, controlUrl, coordinatorBaseUrl } from './control/control-client.ts'
export { Executor } from './executor/executor.ts'
export type { ExecutorWorker } from './executor/executor.ts'
export { QueueStore, statusOf } from './executor/queue-store.ts'
export { createNodeGateway } from './node-gateway.ts'
