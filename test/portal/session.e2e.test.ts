import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { CHROMIUM, CHROMIUM_ARGS, missing, ROOT, signIn, skip } from '../helpers/chromium.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

// Portal sessions in real Chromium against a real `pinfold serve` whose access tokens live
// 30 s (the schema minimum): the session renews itself, uploads keep going across renewals,
// refusals read as one line, deep links survive sign-in. Screenshots go to test-results/.

const SHOTS = join(ROOT, 'test-results/portal-session')
const TOKEN_TTL_SECONDS = 30
const PASSWORD = 'portal-session-password-1'

describe('portal sessions (Chromium, pinfold serve with 30 s access tokens)', { timeout: 240_000 }, () => {
  let coordinator: CoordinatorProcess
  let browser: Browser
  let work: string

  before(async () => {
    if (missing !== undefined) return
    work = await mkdtemp(join(tmpdir(), 'pinfold-portal-session-'))
    await mkdir(SHOTS, { recursive: true })
    coordinator = await startCoordinatorProcess({
      env: { PINFOLD_AUTH_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS), PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0' },
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  })

  after(async () => {
    await browser?.close()
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (work) await rm(work, { recursive: true, force: true })
  })

  async function newUser(quotaStorageBytes?: number): Promise<{ id: string; email: string }> {
    const email = `person-${randomBytes(4).toString('hex')}@example.com`
    const response = await fetch(`${coordinator.url}/api/v1/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await coordinator.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD, ...(quotaStorageBytes === undefined ? {} : { quotaStorageBytes }) }),
    })
    assert.equal(response.status, 201, await response.clone().text())
    return { id: ((await response.json()) as { id: string }).id, email }
  }

  async function fileOf(name: string, bytes: number): Promise<string> {
    const path = join(work, name)
    await writeFile(path, randomBytes(bytes))
    return path
  }

  /** Upload bandwidth of the page, in bytes per second (DevTools network emulation). */
  async function throttleUploads(context: BrowserContext, page: Page, bytesPerSecond: number): Promise<void> {
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond })
  }

  it('a session outlives several token lifetimes with tus uploads running across renewals; the files land and the user stays signed in', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const user = await newUser()
    const context = await browser.newContext()
    const page = await context.newPage()
    const refreshes: number[] = []
    const unauthorized: string[] = []
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname
      if (path === '/api/v1/auth/refresh') refreshes.push(response.status())
      else if (response.status() === 401) unauthorized.push(`${response.request().method()} ${path}`)
    })
    await signIn(page, coordinator.url, user.email, PASSWORD)
    // before sign-in the fresh tab asked for the browser's session: there was none (401)
    refreshes.length = 0
    const startedAt = Date.now()
    // two ≥ 8 MiB files (tus, one after the other) at 256 KB/s: about 70 s, over two token lifetimes
    const files = [await fileOf('first.bin', 9 * 2 ** 20), await fileOf('second.bin', 9 * 2 ** 20)]
    await throttleUploads(context, page, 256 * 1024)
    await page.getByTestId('file-input').setInputFiles(files)
    for (const name of ['first.bin', 'second.bin']) {
      await page.getByTestId('upload-item').filter({ hasText: name }).and(page.locator('[data-status="done"]')).waitFor({ timeout: 180_000 })
    }
    const elapsed = (Date.now() - startedAt) / 1000
    assert.ok(elapsed > 2 * TOKEN_TTL_SECONDS, `the uploads spanned ${elapsed} s, more than two token lifetimes`)
    assert.ok(refreshes.length >= 2, `renewed ${refreshes.length} times`)
    assert.deepEqual([...new Set(refreshes)], [200])
    await shot(page, 'uploads-across-renewals')
    // still signed in: the listing shows both files, another page loads without signing in again
    const listing = page.getByRole('main')
    await listing.getByText('first.bin').first().waitFor()
    await listing.getByText('second.bin').first().waitFor()
    await page.getByRole('link', { name: 'API keys' }).click()
    await page.getByRole('heading', { name: 'API keys' }).first().waitFor()
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 0)
    assert.deepEqual(unauthorized, [], 'no request was refused for an expired token')
    process.stdout.write(`# uploads took ${elapsed.toFixed(1)} s, ${refreshes.length} renewals\n`)

    // one session per browser: a new tab is signed in without the password
    const tab = await context.newPage()
    await tab.goto(`${coordinator.url}/usage`)
    await tab.getByRole('heading', { name: 'Usage & billing' }).first().waitFor()
    await context.close()
  })

  it('a refused upload (quota) fails within 2 s with one readable line, and is not retried', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const user = await newUser(5_000_000)
    const context = await browser.newContext()
    const page = await context.newPage()
    let creations = 0
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/v1/uploads/tus') creations++
    })
    await signIn(page, coordinator.url, user.email, PASSWORD)
    const big = await fileOf('too-big.bin', 9 * 2 ** 20)
    const startedAt = Date.now()
    await page.getByTestId('file-input').setInputFiles(big)
    const item = page.getByTestId('upload-item').filter({ hasText: 'too-big.bin' }).and(page.locator('[data-status="error"]'))
    await item.waitFor({ timeout: 2_000 })
    const shownAfter = Date.now() - startedAt
    const message = (await item.getByRole('alert').innerText()).trim()
    assert.equal(message, 'not enough quota: 5.00 MB left')
    assert.equal(creations, 1, 'a refusal is not retried')
    await shot(page, 'quota-refusal')
    process.stdout.write(`# quota refusal shown after ${shownAfter} ms\n`)
    await context.close()
  })

  it('a deep link survives sign-in', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const user = await newUser()
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${coordinator.url}/usage`)
    await page.getByLabel('Email', { exact: true }).fill(user.email)
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Usage & billing' }).first().waitFor()
    assert.equal(new URL(page.url()).pathname, '/usage')
    await context.close()
  })

  it('password change on the Account page keeps this browser signed in; the old password no longer works', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const user = await newUser()
    const context = await browser.newContext()
    const page = await context.newPage()
    await signIn(page, coordinator.url, user.email, PASSWORD)
    await page.getByRole('link', { name: 'Account', exact: true }).click()
    await page.getByLabel('Current password').fill(PASSWORD)
    await page.getByLabel('New password (8+ characters)').fill('changed-in-the-portal-5')
    await page.getByLabel('New password again').fill('changed-in-the-portal-5')
    await page.getByRole('button', { name: 'Change password' }).click()
    await page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor()
    await shot(page, 'password-changed')
    // still signed in: another page loads, and a reload renews from the new session
    await page.reload()
    await page.getByRole('heading', { name: 'Account' }).first().waitFor()
    assert.equal(await signInStatus(user.email, PASSWORD), 401)
    assert.equal(await signInStatus(user.email, 'changed-in-the-portal-5'), 200)
    await context.close()
  })

  it('an admin resets a user’s password on the Accounts page', { skip }, async () => {
    assert.equal(missing, undefined, missing)
    const user = await newUser()
    const context = await browser.newContext()
    const page = await context.newPage()
    await signIn(page, coordinator.url, coordinator.admin.email, coordinator.admin.password)
    await page.getByRole('link', { name: 'Accounts' }).click()
    await page.getByRole('button', { name: `Reset the password of ${user.email}` }).click()
    await page.getByLabel('New password (8+ characters)').fill('reset-by-the-admin-6')
    await page.getByRole('button', { name: 'Set password' }).click()
    await page.getByRole('status').filter({ hasText: `New password set for ${user.email}` }).waitFor()
    assert.equal(await signInStatus(user.email, PASSWORD), 401)
    assert.equal(await signInStatus(user.email, 'reset-by-the-admin-6'), 200)
    await context.close()
  })

  async function signInStatus(email: string, password: string): Promise<number> {
    const response = await fetch(`${coordinator.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    return response.status
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  }
})
