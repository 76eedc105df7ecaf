import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { freePort } from '../helpers/free-port.ts'
import { requestWithHost } from '../helpers/request-with-host.ts'

/**
 * Stored XSS (issue 9 item 2): user HTML/SVG must never run on the portal's origin,
 * against real `pinfold serve` processes. On the portal's origin every way to user content
 * (`/ipfs/`, REST downloads, share links) comes back sandboxed and HTML/SVG as a download;
 * a separate gateway listener (and subdomain gateway) serves it on other origins.
 */

const HTML = '<!doctype html><script>document.title = sessionStorage.getItem("pinfold.session")</script>'
const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
const TEXT = '<script>alert("not html")</script>'

interface Uploaded {
  dir: string
  entries: { id: string; path: string; cid: string }[]
}

async function uploadSite(coordinator: CoordinatorProcess, token: string): Promise<Uploaded> {
  const form = new FormData()
  form.append('path', '/Library')
  form.append('mode', 'folder')
  form.append('name', 'site')
  form.append('cidVersion', '1')
  form.append('file', new Blob([HTML]), 'evil.html')
  form.append('file', new Blob([SVG]), 'evil.svg')
  form.append('file', new Blob([TEXT]), 'notes.txt')
  const folder = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
  const folderBody = (await folder.json()) as { upload: { cid: string } }
  assert.equal(folder.status, 201, JSON.stringify(folderBody))
  const files = new FormData()
  files.append('path', '/Library/loose')
  files.append('file', new Blob([HTML]), 'evil.html')
  files.append('file', new Blob([SVG]), 'evil.svg')
  files.append('file', new Blob([TEXT]), 'notes.txt')
  const loose = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: files })
  const looseBody = (await loose.json()) as { upload: { entries: Uploaded['entries'] } }
  assert.equal(loose.status, 201, JSON.stringify(looseBody))
  return { dir: folderBody.upload.cid, entries: looseBody.upload.entries }
}

async function share(coordinator: CoordinatorProcess, token: string, body: object, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${coordinator.url}/api/v1/share`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  const answer = (await response.json()) as { url: string }
  assert.equal(response.status, 200, JSON.stringify(answer))
  return answer.url
}

/** A JSON POST with a bearer token and a forged Host (and X-Forwarded-Host). */
function postWithHost(url: string, host: string, token: string, body: object) {
  const headers = { 'x-forwarded-host': host, authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  return requestWithHost(url, { method: 'POST', host, headers, body: JSON.stringify(body) })
}

/** Sandboxed on the portal's origin: an opaque origin without scripts, no sniffing. */
function assertSandboxed(response: Response, what: string): void {
  const policy = response.headers.get('content-security-policy') ?? ''
  assert.match(policy, /(^|;\s*)sandbox(;|$)/, `${what}: Content-Security-Policy sandbox (got ${JSON.stringify(policy)})`)
  assert.doesNotMatch(policy, /allow-scripts|allow-same-origin/, what)
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', what)
}

function assertDownload(response: Response, what: string): void {
  assert.match(response.headers.get('content-disposition') ?? '', /^attachment/, `${what}: sent as attachment`)
}

describe('user content never runs on the portal origin (real pinfold serve)', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let token: string
  let site: Uploaded

  before(async () => {
    coordinator = await startCoordinatorProcess()
    token = await coordinator.token()
    site = await uploadSite(coordinator, token)
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  const auth = () => ({ authorization: `Bearer ${token}` })
  const entry = (name: string) => {
    const found = site.entries.find((e) => e.path.endsWith(`/${name}`))
    assert.ok(found, name)
    return found
  }

  it('HTML and SVG through /ipfs/ (path form and bare CID) are sandboxed attachments', async () => {
    for (const name of ['evil.html', 'evil.svg']) {
      const path = `/ipfs/${site.dir}/${name}`
      const response = await fetch(`${coordinator.url}${path}`, { headers: auth() })
      assert.equal(response.status, 200, path)
      assertSandboxed(response, path)
      assertDownload(response, path)
      assert.match(response.headers.get('content-disposition') ?? '', new RegExp(`filename="${name}"`))
      await response.body?.cancel()
      // a bare CID has no name of its own: ?filename= cannot make it active
      const bare = await fetch(`${coordinator.url}/ipfs/${entry(name).cid}?filename=${name}`, { headers: auth() })
      assert.equal(bare.status, 200)
      assertSandboxed(bare, `bare ${name}`)
      assert.doesNotMatch(bare.headers.get('content-type') ?? '', /html|svg|xml/)
      await bare.body?.cancel()
    }
    // the directory's listing is our own HTML: it stays viewable, but sandboxed too
    const listing = await fetch(`${coordinator.url}/ipfs/${site.dir}/`, { headers: auth() })
    assert.equal(listing.status, 200)
    assertSandboxed(listing, 'listing')
    await listing.body?.cancel()
  })

  it('every REST download of HTML/SVG is a sandboxed attachment, even without ?download', async () => {
    for (const name of ['evil.html', 'evil.svg']) {
      const { id, cid, path } = entry(name)
      for (const url of [`/api/v1/entries/${id}/content`, `/api/v1/content?path=${encodeURIComponent(path)}`, `/api/v1/cids/${cid}/content`]) {
        const response = await fetch(`${coordinator.url}${url}`, { headers: auth() })
        assert.equal(response.status, 200, url)
        assertSandboxed(response, url)
        assertDownload(response, url)
        await response.body?.cancel()
      }
    }
  })

  it('a folder downloaded as tar through REST is sandboxed too', async () => {
    const response = await fetch(`${coordinator.url}/api/v1/content?path=${encodeURIComponent('/Library/site')}`, { headers: auth() })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'application/x-tar')
    assertSandboxed(response, 'tar')
    await response.body?.cancel()
  })

  it('a share link to an HTML file opens sandboxed and never as HTML', async () => {
    // the link names only the file's CID (nothing above the shared path), so no file name
    // gives it a type; sniffing never yields an active one
    const link = await share(coordinator, token, { cid: site.dir, path: 'evil.html' })
    const response = await fetch(link)
    assert.equal(response.status, 200)
    assertSandboxed(response, 'share link')
    assert.doesNotMatch(response.headers.get('content-type') ?? '', /html|svg|xml/, 'share link: not served as active content')
    assert.equal(await response.text(), HTML)
  })

  it('without publicUrl a share link names the listen URL, never the Host the request forged', async () => {
    const answer = await postWithHost(`${coordinator.url}/api/v1/share`, 'evil.example', token, { cid: site.dir })
    assert.equal(answer.status, 200, answer.body)
    assert.ok((JSON.parse(answer.body) as { url: string }).url.startsWith(`${coordinator.url}/ipfs/${site.dir}?share=`), answer.body)
  })

  it('?filename=x.html names the download but never makes a text file HTML', async () => {
    for (const filename of ['x.html', 'x.svg', 'x.xhtml', 'x.xml']) {
      const response = await fetch(`${coordinator.url}/ipfs/${entry('notes.txt').cid}?filename=${filename}`, { headers: auth() })
      assert.equal(response.status, 200)
      const type = response.headers.get('content-type') ?? ''
      assert.doesNotMatch(type, /html|svg|xml/, `${filename} gave ${type}`)
      assert.match(response.headers.get('content-disposition') ?? '', new RegExp(`filename="${filename.replace('.', '\\.')}"`))
      assert.equal(await response.text(), TEXT)
    }
  })

  it('a Service-Worker: script request is refused with 400', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/${site.dir}/evil.html`, { headers: { ...auth(), 'service-worker': 'script' } })
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_GATEWAY_REQUEST')
  })
})

describe('a separate gateway origin: gateway.listen and the subdomain gateway (real pinfold serve)', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let token: string
  let site: Uploaded
  let gateway: string
  let gatewayHost: string

  before(async () => {
    const port = await freePort()
    gatewayHost = `localhost:${port}`
    gateway = `http://127.0.0.1:${port}`
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        PINFOLD_GATEWAY_PUBLIC_URL: `http://${gatewayHost}`,
        PINFOLD_GATEWAY_SUBDOMAINS: 'true',
      },
    })
    token = await coordinator.token()
    site = await uploadSite(coordinator, token)
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('serves content on <base32 cid>.ipfs.<gateway host> as is, and redirects the path form there', async () => {
    const link = await share(coordinator, token, { cid: site.dir, path: 'evil.html' })
    assert.ok(link.startsWith(`http://${gatewayHost}/ipfs/`), `share links point at the gateway origin: ${link}`)
    const auth = { authorization: `Bearer ${token}` }
    const pathForm = await requestWithHost(`${gateway}/ipfs/${site.dir}/evil.html`, { host: gatewayHost, headers: auth })
    assert.equal(pathForm.status, 301)
    const location = String(pathForm.headers.location)
    assert.equal(location, `http://${site.dir}.ipfs.${gatewayHost}/evil.html`)
    const target = new URL(location)
    const served = await requestWithHost(`${gateway}${target.pathname}${target.search}`, { host: target.host, headers: auth })
    assert.equal(served.status, 200, served.body)
    assert.equal(served.body, HTML)
    assert.match(String(served.headers['content-type']), /^text\/html/)
    assert.equal(served.headers['content-security-policy'], undefined, 'its own origin: not sandboxed')
    assert.equal(served.headers['content-disposition'], undefined, 'its own origin: rendered inline')
    // the share link itself opens on its CID's own origin too
    const shared = await requestWithHost(`${gateway}${new URL(link).pathname}${new URL(link).search}`, { host: gatewayHost })
    assert.equal(shared.status, 301)
    const sharedTarget = new URL(String(shared.headers.location))
    const opened = await requestWithHost(`${gateway}${sharedTarget.pathname}${sharedTarget.search}`, { host: sharedTarget.host })
    assert.equal(opened.status, 200, opened.body)
    assert.equal(opened.body, HTML)
  })

  it('the portal learns where content links point', async () => {
    const response = await fetch(`${coordinator.url}/api/v1/gateway`)
    assert.deepEqual(await response.json(), { url: `http://${gatewayHost}`, separateOrigin: true, subdomains: true })
  })

  it('the gateway listener serves nothing but content', async () => {
    for (const path of ['/', '/api/v1/account', '/api/v1/openapi.json', '/metrics']) {
      const response = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(response.status, 404, path)
      await response.body?.cancel()
    }
  })

  it('the portal origin still sandboxes the same content', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/${site.dir}/evil.html`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(response.status, 200)
    assertSandboxed(response, 'portal origin')
    assertDownload(response, 'portal origin')
    await response.body?.cancel()
  })
})

describe('a gateway origin that would not separate anything is refused at start', { timeout: 60_000 }, () => {
  it('subdomains without gateway.publicUrl, or gateway.publicUrl on the portal’s own origin', async () => {
    const attempts: [NodeJS.ProcessEnv, RegExp][] = [
      [{ PINFOLD_GATEWAY_SUBDOMAINS: 'true' }, /gateway\.subdomains needs gateway\.publicUrl/],
      [{ PINFOLD_PUBLIC_URL: 'https://files.example', PINFOLD_GATEWAY_PUBLIC_URL: 'https://files.example/' }, /another origin than publicUrl/],
    ]
    for (const [env, message] of attempts) {
      const dataDir = await mkdtemp(join(tmpdir(), 'pinfold-gw-config-'))
      try {
        await assert.rejects(startCoordinatorProcess({ env, dataDir }), message)
      } finally {
        await rm(dataDir, { recursive: true, force: true })
      }
    }
  })
})
