import { createReadStream } from 'node:fs'
import { randomBytes } from 'node:crypto'

export interface MultipartFile {
  /** Relative path sent as the part's filename (`dir/sub/file.txt`). */
  name: string
  /** Local file to stream. */
  source: string
  size: number
}

/**
 * A streamed multipart/form-data body with a known length, so the server can refuse an
 * oversize upload before reading it, and progress can be counted as bytes leave.
 */
export function multipartBody(
  fields: Record<string, string>,
  files: MultipartFile[],
  onBytes: (sentFileBytes: number) => void,
): { body: ReadableStream<Uint8Array>; contentType: string; contentLength: number } {
  const boundary = `----pinfold${randomBytes(12).toString('hex')}`
  const encoder = new TextEncoder()
  const fieldParts = Object.entries(fields).map(([name, value]) =>
    encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${escapeQuoted(name)}"\r\n\r\n${value}\r\n`),
  )
  const fileHeads = files.map((file) =>
    encoder.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${escapeQuoted(file.name)}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
  )
  const crlf = encoder.encode('\r\n')
  const closing = encoder.encode(`--${boundary}--\r\n`)
  const contentLength =
    sum(fieldParts.map((p) => p.length)) +
    sum(fileHeads.map((p) => p.length)) +
    sum(files.map((f) => f.size + crlf.length)) +
    closing.length

  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield* fieldParts
    let sent = 0
    for (const [index, file] of files.entries()) {
      yield fileHeads[index] as Uint8Array
      for await (const chunk of createReadStream(file.source, { highWaterMark: 1 << 20 })) {
        sent += (chunk as Buffer).length
        onBytes(sent)
        yield chunk as Buffer
      }
      yield crlf
    }
    yield closing
  }
  const iterator = chunks()
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    async cancel() {
      await iterator.return(undefined)
    },
  })
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, contentLength }
}

/** As browsers do: quotes and line breaks in a parameter value are percent-encoded. */
function escapeQuoted(value: string): string {
  return value.replaceAll('"', '%22').replaceAll('\r', '%0D').replaceAll('\n', '%0A')
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0)
}
