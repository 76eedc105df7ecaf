// the implementation is shared with scripts/demo-ha.ts
export { createThrowawayPostgres, postgresBinDir, type ThrowawayPostgres } from '../../scripts/throwaway-postgres.ts'
