import { MemoryBlockstore } from '../../src/core/index.ts'
import { blockstoreConformance } from './blockstore-conformance.ts'

blockstoreConformance('MemoryBlockstore', async () => ({ store: new MemoryBlockstore(), close: async () => {} }))
