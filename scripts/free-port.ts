import { createServer } from 'node:net'

/**
 * A TCP port on 127.0.0.1 free right now, for a process that must be told its port up
 * front (a URL naming it is configured before it listens). Another process may take it in
 * between; tests accept that small race.
 */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
