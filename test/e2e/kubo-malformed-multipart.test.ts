import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

/**
 * Issue 9 item 12 (multipart part) against a real `pinfold serve`: a malformed multipart body
 * on Kubo `add`, `dag/import` and `block/put` is the client's mistake — 400 with Kubo's error
 * shape and a message naming the problem — never a 500, and the server keeps serving.
 */
describe('Kubo RPC: malformed multipart bodies are a 400 (real server)', () => {
  let coordinator: CoordinatorProcess
  let token: string

  before(async () => {
    coordinator = await startCoordinatorProcess()
    token = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  const malformed: { name: string; type: string; body: string }[] = [
    { name: 'no boundary parameter', type: 'multipart/form-data', body: '--xyz\r\n\r\n' },
    { name: 'no delimiter at all', type: 'multipart/form-data; boundary=xyz', body: 'garbage' },
    { name: 'a part cut off mid-body', type: 'multipart/form-data; boundary=xyz', body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc' },
    { name: 'headers never ended', type: 'multipart/form-data; boundary=xyz', body: '--xyz\r\nContent-Disposition: form-data; name="file"' },
  ]

  for (const command of ['add', 'dag/import', 'block/put']) {
    it(`${command}: each malformed body answers 400 with a clear Kubo-shaped message`, async () => {
      for (const { name, type, body } of malformed) {
        const response = await fetch(`${coordinator.url}/api/v0/${command}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': type },
          body,
        })
        const answer = (await response.json()) as { Message: string; Code: number; Type: string }
        assert.equal(response.status, 400, `${name}: ${JSON.stringify(answer)}`)
        assert.equal(answer.Type, 'error')
        assert.equal(answer.Code, 1)
        assert.match(answer.Message, /multipart|required/, name)
      }
      const version = await fetch(`${coordinator.url}/api/v0/version`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      assert.equal(version.status, 200, 'still serving')
    })
  }
})
