import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, ROOT, signIn, skip } from '../helpers/chromium.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type NodeProcess, startNodeProcess } from '../helpers/node-process.ts'

// The portal in real headless Chromium (Debian's package: apt-get install -y chromium)
// against a real `pinfold serve` and a real `pinfold node`. Screenshots go to test-results/.

const SHOTS = join(ROOT, 'test-results/portal')
const SECRET = 'portal-e2e-cluster-secret-0123456789'

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

/**
 * Drops a real directory on the drop zone the way the OS does: through the DevTools
 * protocol's drag events with file paths, so the page sees genuine directory entries
 * (DataTransferItem.webkitGetAsEntry) rather than a hand-made DataTransfer.
 */
async function dropDirectory(context: BrowserContext, page: Page, directory: string): Promise<void> {
  const box = await page.getByTestId('dropzone').boundingBox()
  assert.ok(box, 'drop zone visible')
  const x = box.x + box.width / 2
  const y = box.y + box.height / 2
  const cdp = await context.newCDPSession(page)
  const data = { items: [], files: [directory], dragOperationsMask: 1 }
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) {
    await cdp.send('Input.dispatchDragEvent', { type, x, y, data })
  }
  await cdp.detach()
}

describe('web portal end to end (Chromium, pinfold serve + pinfold node)', { timeout: 90_000 }, () => {
  let coordinator: CoordinatorProcess
  let node: NodeProcess | undefined
  let browser: Browser
  let work: string

  before(async () => {
    if (missing !== undefined) return
    work = await mkdtemp(join(tmpdir(), 'pinfold-portal-e2e-'))
    await mkdir(SHOTS, { recursive: true })
    coordinator = await startCoordinatorProcess({
      env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.2' },
    })
    node = await startNodeProcess({
      join: coordinator.url,
      secret: SECRET,
      repo: join(work, 'node-repo'),
      args: ['--name', 'portal-e2e-1', '--report-interval', '500ms'],
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  })

  after(async () => {
    await browser?.close()
    await node?.stop()
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('sign in → directory → drop a folder → files, CID, replication → download → delete → keys → second account → sign out', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const { url, admin } = coordinator
    // a folder on disk to drop: two files, one in a subdirectory
    const folder = join(work, 'holiday')
    await mkdir(join(folder, 'day2'), { recursive: true })
    const small = Buffer.from('hello from the portal test\n')
    const big = randomBytes(300_000)
    await writeFile(join(folder, 'notes.txt'), small)
    await writeFile(join(folder, 'day2', 'photo.bin'), big)
    // ≥ 8 MiB: goes through tus (resumable) rather than the shared multipart request
    const large = randomBytes(9 * 1024 * 1024)
    await writeFile(join(folder, 'day2', 'video.bin'), large)

    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))

    // sign in (an unauthenticated visit lands on the sign-in page)
    await page.goto(`${url}/library`)
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
    assert.match(page.url(), /\/sign-in\?next=%2Flibrary$/, "the page asked for comes back after sign-in")
    await shot(page, '01-sign-in')
    await signIn(page, url, admin.email, admin.password)

    // create a directory and open it
    await page.getByRole('button', { name: 'New directory' }).click()
    await page.getByLabel('Name', { exact: true }).fill('trips')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    await page.getByRole('button', { name: 'Open trips' }).click()
    await page.locator('.breadcrumbs [aria-current]', { hasText: 'trips' }).waitFor()

    // drop the folder, "files into a directory": one entry (and CID) per file
    await page.getByLabel('as files into a directory').check()
    await dropDirectory(context, page, folder)
    const item = page.getByTestId('upload-item').filter({ hasText: 'holiday' })
    await item.and(page.locator('[data-status="done"]')).waitFor({ timeout: 30_000 })
    await shot(page, '02-upload-done')
    await page.getByRole('button', { name: 'Open holiday' }).click()
    await page.getByRole('button', { name: 'Details of notes.txt' }).waitFor()
    await page.getByRole('button', { name: 'Open day2' }).click()
    await page.getByRole('button', { name: 'Details of video.bin' }).click()
    assert.match((await page.locator('.details').textContent()) ?? '', /9,437,184 bytes/, 'the tus upload landed whole')
    await page.getByRole('button', { name: 'Details of photo.bin' }).click()
    const cid = (await page.getByTestId('entry-cid').textContent())?.trim() ?? ''
    assert.match(cid, /^(Qm|bafy)/, 'the details panel shows the CID')
    // replication on the storage node, live (polled) without a reload
    await page.locator('.replication .badge-pinned').waitFor({ timeout: 30_000 })
    await shot(page, '03-library-details')

    // download through the portal and compare bytes
    const downloadEvent = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Download', exact: true }).click()
    const download = await downloadEvent
    assert.equal(download.suggestedFilename(), 'photo.bin')
    assert.deepEqual(await readFile((await download.path()) ?? ''), big, 'downloaded bytes equal the dropped file')

    // the same folder as one unit through the folder picker (webkitdirectory): one CID
    await page.getByRole('link', { name: 'Library' }).first().click()
    await page.getByLabel('as one unit').check()
    await page.getByTestId('folder-input').setInputFiles(folder)
    await page.getByTestId('upload-item').filter({ hasText: 'one unit' }).and(page.locator('[data-status="done"]')).waitFor({ timeout: 30_000 })
    await page.getByRole('button', { name: 'Details of holiday' }).click()
    const folderCid = (await page.getByTestId('entry-cid').textContent())?.trim() ?? ''
    assert.match(folderCid, /^(Qm|bafy)/)

    // search by CID finds the file inside trips
    await page.getByLabel('Search by name or CID').fill(cid)
    await page.getByRole('button', { name: 'Search', exact: true }).click()
    await page.getByRole('button', { name: 'Details of photo.bin' }).waitFor()
    assert.match((await page.locator('table.entries tbody').textContent()) ?? '', /trips\/holiday\/day2\/photo\.bin/)
    await shot(page, '04-search-by-cid')
    await page.getByRole('button', { name: 'Clear search' }).click()

    // delete the uploaded directory with typed confirmation; the result is shown
    await page.getByRole('button', { name: 'Open trips' }).click()
    await page.getByRole('button', { name: 'Details of holiday' }).click()
    await page.locator('.details').getByRole('button', { name: 'Delete' }).click()
    const confirmDelete = page.locator('dialog').getByRole('button', { name: 'Delete' })
    assert.equal(await confirmDelete.isDisabled(), true, 'delete waits for the typed name')
    await page.getByLabel('Type holiday to confirm').fill('holiday')
    await confirmDelete.click()
    const result = page.getByTestId('delete-result')
    await result.waitFor()
    assert.match((await result.textContent()) ?? '', /Removed 5 entries/)
    await shot(page, '05-delete-result')
    await page.locator('dialog').getByRole('button', { name: 'Close' }).click()
    await page.getByText('This directory is empty').waitFor()

    // an API key created in the portal works for a plain HTTP client
    await page.getByRole('link', { name: 'API keys' }).click()
    await page.getByLabel('Description').fill('portal e2e')
    await page.getByRole('button', { name: 'Create key' }).click()
    const secret = (await page.getByTestId('new-key-secret').textContent())?.trim() ?? ''
    assert.ok(secret.length > 20)
    await shot(page, '06-api-keys')
    const tokenResponse = await fetch(`${url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: secret }),
    })
    assert.equal(tokenResponse.status, 200)
    const { accessToken } = (await tokenResponse.json()) as { accessToken: string }
    const listed = await fetch(`${url}/api/v1/entries/children?path=/Library`, { headers: { authorization: `Bearer ${accessToken}` } })
    assert.equal(listed.status, 200)
    const names = ((await listed.json()) as { items: { name: string }[] }).items.map((entry) => entry.name)
    assert.deepEqual(names.sort(), ['holiday', 'trips'])

    // usage and the admin pages render
    await page.getByRole('link', { name: 'Usage & billing' }).click()
    await page.getByRole('heading', { name: 'Storage over time' }).waitFor()
    await page.locator('.chart svg').waitFor()
    await shot(page, '07-usage')
    await page.getByRole('link', { name: 'Nodes' }).click()
    await page.getByRole('heading', { name: 'portal-e2e-1' }).waitFor()
    await shot(page, '08-nodes')
    await page.getByRole('link', { name: 'Pins' }).click()
    await page.getByRole('heading', { name: 'Pins needing attention' }).waitFor()
    await shot(page, '09-pins')

    // a second account, created on the admin page
    await page.getByRole('link', { name: 'Accounts' }).click()
    await page.getByLabel('Email', { exact: true }).fill('second@example.com')
    await page.getByLabel('Password (8+ characters)').fill('second-password-1')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByRole('cell', { name: 'second@example.com', exact: true }).waitFor()
    await shot(page, '10-accounts')

    // narrow screen
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByRole('link', { name: 'Library' }).first().click()
    await page.getByRole('button', { name: 'Details of holiday' }).click()
    await shot(page, '11-library-narrow')
    await page.setViewportSize({ width: 1280, height: 860 })

    // sign out
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByText('You have signed out.').waitFor()

    // the second account sees none of the first's files, by listing, search or URL
    const other = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    const otherPage = await other.newPage()
    await signIn(otherPage, url, 'second@example.com', 'second-password-1')
    await otherPage.getByText('This directory is empty').waitFor()
    await otherPage.getByLabel('Search by name or CID').fill(folderCid)
    await otherPage.getByRole('button', { name: 'Search', exact: true }).click()
    await otherPage.getByText('Nothing found.').waitFor()
    await otherPage.goto(`${url}/library?path=${encodeURIComponent('/Library/trips')}`)
    await otherPage.getByRole('alert').filter({ hasText: /not found|no /i }).waitFor()
    assert.equal(await otherPage.getByRole('link', { name: 'Nodes' }).count(), 0, 'no admin pages for a user')

    // a refused access token is renewed from the browser's session: the user stays signed in
    const spoilToken = () =>
      otherPage.evaluate(() => {
        const raw = sessionStorage.getItem('pinfold.session') ?? '{}'
        sessionStorage.setItem('pinfold.session', JSON.stringify({ ...JSON.parse(raw), token: 'expired.token.value' }))
      })
    await spoilToken()
    await otherPage.goto(`${url}/library`)
    await otherPage.getByRole('navigation', { name: 'Breadcrumbs' }).waitFor()
    // an ended session (no refresh cookie any more): a clear message and back to sign-in. The
    // renewal above must have finished first, or its Set-Cookie would restore the cookie
    await otherPage.waitForLoadState('networkidle')
    await other.clearCookies()
    await spoilToken()
    await otherPage.goto(`${url}/library`)
    await otherPage.getByText('Your session has ended').waitFor()
    await otherPage.getByRole('button', { name: 'Sign in' }).waitFor()
    assert.equal(await otherPage.getByRole('navigation', { name: 'Breadcrumbs' }).count(), 0, 'the library is gone')
    assert.equal(await otherPage.evaluate(() => sessionStorage.getItem('pinfold.session')), null, 'the ended session is forgotten')
    await shot(otherPage, '12-session-expired')
    await other.close()
    await context.close()
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page')
  })

  it('serves the portal: SPA fallback, content types, immutable assets, no traversal, API 404s stay JSON', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const { url } = coordinator
    const index = await fetch(`${url}/library/anything?x=1`)
    assert.equal(index.status, 200)
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/)
    assert.equal(index.headers.get('cache-control'), 'no-cache')
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    const html = await index.text()
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    assert.ok(asset, 'index.html references a hashed script')
    const script = await fetch(`${url}${asset}`)
    assert.equal(script.status, 200)
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/)
    assert.match(script.headers.get('cache-control') ?? '', /immutable/)
    assert.doesNotMatch(html + (await script.text()), /https?:\/\/(fonts|cdn|unpkg|cdnjs)\./, 'nothing from CDNs')
    assert.equal((await fetch(`${url}/assets/missing-0000.js`)).status, 404)
    for (const evil of ['/..%2fpackage.json', '/assets/..%2f..%2fpackage.json', '/%2e%2e/package.json']) {
      const response = await fetch(`${url}${evil}`)
      assert.ok(response.status === 400 || response.status === 404, `${evil} → ${response.status}`)
      assert.doesNotMatch(await response.text(), /"name": "pinfold"/)
    }
    const api = await fetch(`${url}/api/v1/nope`)
    assert.equal(api.status, 404)
    assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND')
  })
})
