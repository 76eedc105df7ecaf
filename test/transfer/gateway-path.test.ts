import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { createGatewayHandler } from '../../src/transfer/index.ts'
import { type GatewayFixture, gatewayFixture, SCRIPT_NAME } from './gateway-fixture.ts'

describe('path gateway (deserialized responses)', () => {
  let fx: GatewayFixture
  before(async () => {
    fx = await gatewayFixture()
  })

  it('serves a file with a content type from its name, or sniffed', async () => {
    const root = fx.cid('fixture')
    const css = await fx.get(`/ipfs/${root}/site/style.css`)
    assert.equal(css.status, 200)
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8')
    assert.equal(css.headers.get('etag'), `"${fx.cid('fixture/site/style.css')}"`)
    assert.equal(css.headers.get('accept-ranges'), 'bytes')
    assert.equal(css.headers.get('content-length'), '13')
    assert.equal(await css.text(), 'h1{color:red}')

    const png = await fx.get(`/ipfs/${root}/image.data`)
    assert.equal(png.headers.get('content-type'), 'image/png')
    await png.body?.cancel()
    const text = await fx.get(`/ipfs/${root}/noext`)
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8')
    await text.body?.cancel()
    const binary = await fx.get(`/ipfs/${fx.cid('fixture/big.bin')}`)
    assert.equal(binary.headers.get('content-type'), 'application/octet-stream')
    await binary.body?.cancel()
    const named = await fx.get(`/ipfs/${fx.cid('fixture/hello.txt')}?filename=greeting.json&download=true`)
    assert.equal(named.headers.get('content-type'), 'application/json')
    assert.equal(named.headers.get('content-disposition'), 'attachment; filename="greeting.json"')
    await named.body?.cancel()
    const unicode = await fx.get(`/ipfs/${fx.cid('fixture/hello.txt')}?filename=${encodeURIComponent('тест.txt')}`)
    assert.equal(unicode.headers.get('content-disposition'), `inline; filename="____.txt"; filename*=UTF-8''%D1%82%D0%B5%D1%81%D1%82.txt`)
    await unicode.body?.cancel()
  })

  it('answers single byte ranges with 206 and impossible ones with 416', async () => {
    const cid = fx.cid('fixture/hello.txt')
    const first = await fx.get(`/ipfs/${cid}`, { headers: { Range: 'bytes=0-4' } })
    assert.equal(first.status, 206)
    assert.equal(first.headers.get('content-range'), 'bytes 0-4/12')
    assert.equal(first.headers.get('content-length'), '5')
    assert.equal(await first.text(), 'hello')
    const suffix = await fx.get(`/ipfs/${cid}`, { headers: { Range: 'bytes=-6' } })
    assert.equal(suffix.status, 206)
    assert.equal(await suffix.text(), 'world\n')
    const open = await fx.get(`/ipfs/${fx.cid('fixture/big.bin')}`, { headers: { Range: 'bytes=10000-' } })
    assert.equal(open.headers.get('content-range'), 'bytes 10000-10239/10240')
    assert.equal((await open.arrayBuffer()).byteLength, 240)
    const beyond = await fx.get(`/ipfs/${cid}`, { headers: { Range: 'bytes=100-' } })
    assert.equal(beyond.status, 416)
    assert.equal(beyond.headers.get('content-range'), 'bytes */12')
    const multi = await fx.get(`/ipfs/${cid}`, { headers: { Range: 'bytes=0-1,3-4' } })
    assert.equal(multi.status, 200, 'multi-range answered with the full body')
    assert.equal(await multi.text(), 'hello world\n')
  })

  it('redirects a directory without trailing slash, then serves its index.html', async () => {
    const root = fx.cid('fixture')
    const redirect = await fx.get(`/ipfs/${root}/site?x=1`)
    assert.equal(redirect.status, 301)
    // relative (it must also hold on a subdomain gateway); resolves to /ipfs/<root>/site/?x=1
    assert.equal(redirect.headers.get('location'), './site/?x=1')
    assert.equal(new URL(redirect.headers.get('location') ?? '', `http://gw/ipfs/${root}/site?x=1`).pathname, `/ipfs/${root}/site/`)
    const index = await fx.get(`/ipfs/${root}/site/`)
    assert.equal(index.status, 200)
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8')
    assert.equal(await index.text(), '<h1>hi</h1>')
    assert.equal((await fx.get(`/ipfs/${root}`)).status, 301)
  })

  it('lists a directory as HTML with every name escaped', async () => {
    const root = fx.cid('fixture')
    const res = await fx.get(`/ipfs/${root}/`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8')
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    assert.match(res.headers.get('etag') ?? '', /^"DirIndex-/)
    const html = await res.text()
    assert.ok(!html.includes('<script'), 'no live script tag')
    assert.ok(html.includes('&#60;script&#62;alert(&#34;x&#34;)&#60;.txt'), 'the name is shown escaped')
    assert.ok(html.includes(`href="${encodeURIComponent(SCRIPT_NAME)}"`), 'the link is percent-encoded')
    assert.ok(html.includes('href="sub/"'))
    assert.ok(html.includes(fx.cid('fixture/hello.txt').toString()))
    const sub = await (await fx.get(`/ipfs/${root}/sub/`)).text()
    assert.ok(sub.includes('href="../"'), 'sub-directories link to their parent')
    const empty = await fx.get(`/ipfs/${root}/empty/`, { method: 'HEAD' })
    assert.equal(empty.status, 200)
    assert.equal(empty.body, null)
  })

  it('lists and resolves inside a 3000-entry HAMT directory', async () => {
    const html = await (await fx.get(`/ipfs/${fx.cid('shard')}/`)).text()
    assert.equal(html.match(/<tr><td><a href="file-/g)?.length, 3000)
  })

  it('If-None-Match on a file and on a listing answers 304', async () => {
    const root = fx.cid('fixture')
    for (const path of [`/ipfs/${root}/hello.txt`, `/ipfs/${root}/`]) {
      const first = await fx.get(path)
      await first.body?.cancel()
      const again = await fx.get(path, { headers: { 'If-None-Match': first.headers.get('etag') ?? '' } })
      assert.equal(again.status, 304, path)
    }
  })

  it('lets authorize deny a request before any block is read', async () => {
    let reads = 0
    const source = {
      get: async () => {
        reads++
        throw new Error('must not read')
      },
      has: async () => false,
    }
    const handler = createGatewayHandler({
      source,
      authorize: async (request, cid) =>
        request.headers.get('authorization') === `Bearer ${cid}` ? undefined : new Response('forbidden', { status: 403 }),
    })
    const res = await handler(new Request(`http://127.0.0.1/ipfs/${fx.cid('fixture')}?format=raw`))
    assert.equal(res.status, 403)
    assert.equal(reads, 0)
  })
})
