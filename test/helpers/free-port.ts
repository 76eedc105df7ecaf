// shared with scripts/ (demo:ha, throwaway PostgreSQL)
export { freePort } from '../../scripts/free-port.ts'
