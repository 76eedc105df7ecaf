import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'

// Browser tests drive Debian's Chromium (apt-get install -y chromium) with playwright-core.

export const CHROMIUM = process.env.PINFOLD_CHROMIUM ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PORTAL_INDEX = join(ROOT, 'web/dist/index.html')

/** Why a browser test cannot run here, or undefined. Under CI a missing prerequisite is a failure, not a skip. */
function missingPrerequisite(): string | undefined {
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (install it: apt-get update && apt-get install -y chromium)`
  if (!existsSync(PORTAL_INDEX)) return 'the portal is not built (npm --prefix web ci && npm --prefix web run build)'
  return undefined
}
export const missing = missingPrerequisite()
/** The `skip` option of a browser test: skipped only outside CI. */
export const skip = missing !== undefined && !process.env.CI ? `skipped: ${missing}` : false

/** Signs in on the portal's sign-in page and waits for the library. */
export async function signIn(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url)
  await page.getByLabel('Email', { exact: true }).fill(email)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('navigation', { name: 'Breadcrumbs' }).waitFor()
}
