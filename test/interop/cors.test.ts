import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, ROOT } from '../helpers/chromium.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

// Browser apps on another origin (a web app using Pinfold's API, browser Helia reading the
// gateway, Uppy/tus uploads) against a real `pinfold serve`.

const ALLOWED = 'http://app.example'

describe('CORS and tus discovery', () => {
  let coordinator: CoordinatorProcess
  let token: string
  let cid: string

  before(async () => {
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CORS_ALLOW_ORIGINS: `${ALLOWED},http://other.example` } })
    token = await coordinator.token()
    const form = new FormData()
    form.append('path', '/Library/cors')
    form.append('file', new Blob(['hello from another origin\n']), 'hello.txt')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    assert.equal(upload.status, 201, await upload.clone().text())
    cid = ((await upload.json()) as { upload: { cid: string } }).upload.cid
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('tus discovery (OPTIONS without Access-Control-Request-Method) answers 204 with Tus-Version, with or without a token', async () => {
    for (const headers of [{}, { authorization: `Bearer ${token}` }]) {
      const response = await fetch(`${coordinator.url}/api/v1/uploads/tus`, { method: 'OPTIONS', headers })
      assert.equal(response.status, 204, await response.text())
      assert.equal(response.headers.get('tus-version'), '1.0.0')
      assert.match(response.headers.get('tus-extension') ?? '', /creation/)
    }
    const withToken = await fetch(`${coordinator.url}/api/v1/uploads/tus`, { method: 'OPTIONS', headers: { authorization: `Bearer ${token}` } })
    assert.ok(Number(withToken.headers.get('tus-max-size')) > 0, 'the account’s upload limit is announced to a signed-in client')
  })

  it('answers a browser preflight from an allowed origin on every API, without credentials', async () => {
    const cases = [
      { path: '/api/v1/account', method: 'GET', headers: 'authorization' },
      { path: '/api/v0/add?pin=true', method: 'POST', headers: 'authorization, content-type' },
      { path: '/pinning/pins', method: 'POST', headers: 'authorization, content-type' },
      { path: '/api/v1/uploads/tus', method: 'POST', headers: 'authorization, tus-resumable, upload-length, upload-metadata' },
      { path: '/api/v1/uploads/tus/abc', method: 'PATCH', headers: 'authorization, tus-resumable, upload-offset, content-type' },
    ]
    for (const { path, method, headers } of cases) {
      const response = await fetch(`${coordinator.url}${path}`, {
        method: 'OPTIONS',
        headers: { origin: ALLOWED, 'access-control-request-method': method, 'access-control-request-headers': headers },
      })
      assert.equal(response.status, 204, `${path}: ${await response.text()}`)
      assert.equal(response.headers.get('access-control-allow-origin'), ALLOWED, path)
      assert.match(response.headers.get('access-control-allow-methods') ?? '', new RegExp(`\\b${method}\\b`), path)
      const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/)
      for (const header of headers.split(', ')) assert.ok(allowed.includes(header), `${path}: ${header} in ${allowed}`)
      assert.match(response.headers.get('vary') ?? '', /origin/i, path)
    }
  })

  it('gives API responses to allowed origins only, and names the origin (never *)', async () => {
    const auth = { authorization: `Bearer ${token}` }
    const allowed = await fetch(`${coordinator.url}/api/v1/account`, { headers: { ...auth, origin: ALLOWED } })
    assert.equal(allowed.status, 200)
    assert.equal(allowed.headers.get('access-control-allow-origin'), ALLOWED)
    const denied = await fetch(`${coordinator.url}/api/v1/account`, { headers: { ...auth, origin: 'http://evil.example' } })
    assert.equal(denied.headers.get('access-control-allow-origin'), null)
    const preflight = await fetch(`${coordinator.url}/api/v0/add`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    })
    assert.equal(preflight.headers.get('access-control-allow-origin'), null)
    const tus = await fetch(`${coordinator.url}/api/v1/uploads/tus`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } })
    assert.equal(tus.headers.get('access-control-allow-origin'), null, 'tus no longer allows every origin')
  })

  it('lets any origin read the gateway, exposing the headers verified-fetch needs, and answers its preflight', async () => {
    const read = await fetch(`${coordinator.url}/ipfs/${cid}?format=raw`, { headers: { origin: 'http://anyone.example', authorization: `Bearer ${token}` } })
    assert.equal(read.status, 200)
    assert.equal(read.headers.get('access-control-allow-origin'), '*')
    const exposed = (read.headers.get('access-control-expose-headers') ?? '').toLowerCase()
    for (const header of ['content-length', 'content-range', 'x-ipfs-path', 'x-ipfs-roots', 'etag']) assert.ok(exposed.includes(header), `${header} exposed`)
    const denied = await fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { origin: 'http://anyone.example' } })
    assert.equal(denied.status, 401)
    assert.equal(denied.headers.get('access-control-allow-origin'), '*', 'a browser can read why it was refused')
    const preflight = await fetch(`${coordinator.url}/ipfs/${cid}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://anyone.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, range' },
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i)
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /range/i)
  })

  describe('in Chromium, from another origin', { skip: existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}` }, () => {
    let browser: Browser
    let app: Server
    let appUrl: string
    before(async () => {
      const tusScript = await readFile(join(ROOT, 'node_modules/tus-js-client/dist/tus.min.js'))
      app = createServer((req, res) => {
        if (req.url === '/tus.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(tusScript)
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>')
      })
      await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
      appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    })
    after(async () => {
      await browser?.close()
      await new Promise((resolve) => app?.close(resolve))
    })

    it('fetches the API and the gateway and uploads with tus-js-client', async () => {
      // a second coordinator that allows this page's origin (its port is known only now)
      const allowing = await startCoordinatorProcess({ env: { PINFOLD_CORS_ALLOW_ORIGINS: appUrl } })
      try {
        const appToken = await allowing.token()
        const page = await browser.newPage()
        await page.goto(appUrl)
        await page.addScriptTag({ url: '/tus.js' })
        const result = await page.evaluate(
          async ({ api, token }) => {
            const auth = { authorization: `Bearer ${token}` }
            const tus = (globalThis as unknown as { tus: { Upload: new (file: Blob, options: object) => { start(): void } } }).tus
            const uploadId = await new Promise<string>((resolve, reject) => {
              const upload = new tus.Upload(new Blob(['uploaded cross-origin\n']), {
                endpoint: `${api}/api/v1/uploads/tus`,
                headers: auth,
                metadata: { filename: 'cross.txt', path: '/Library/browser' },
                onError: (error: Error) => reject(error),
                onAfterResponse: (_req: unknown, res: { getHeader(name: string): string | undefined }) => {
                  const id = res.getHeader('Pinfold-Upload-Id')
                  if (id) resolve(id)
                },
              })
              upload.start()
            })
            const status = (await (await fetch(`${api}/api/v1/uploads/${uploadId}`, { headers: auth })).json()) as { upload: { cid: string; status: string } }
            const cid = status.upload.cid as string
            const text = await (await fetch(`${api}/ipfs/${cid}`, { headers: auth })).text()
            return { status: status.upload.status as string, text }
          },
          { api: allowing.url, token: appToken },
        )
        assert.deepEqual(result, { status: 'done', text: 'uploaded cross-origin\n' })
      } finally {
        await allowing.stop()
        await allowing.cleanup()
      }
    })
  })
})
