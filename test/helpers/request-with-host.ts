import { request as httpRequest } from 'node:http'

export interface HostRequest {
  method?: string
  /** The Host header to send (fetch cannot set one): a forged host, or a subdomain gateway's. */
  host: string
  headers?: Record<string, string>
  body?: string
}

/** An HTTP request to `url` with an explicit Host header; the body is read as text. */
export function requestWithHost(
  url: string,
  options: HostRequest,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, host: options.host }
    const request = httpRequest(url, { method: options.method ?? 'GET', headers }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    request.on('error', reject)
    request.end(options.body)
  })
}
