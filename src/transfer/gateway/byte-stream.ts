/** Generators behind streams from `toReadableStream` that nothing has pulled from yet. */
const unread = new WeakMap<ReadableStream<Uint8Array>, AsyncGenerator<Uint8Array>>()

/**
 * Wraps an async generator of bytes in a pull-based `ReadableStream`: nothing is read
 * ahead of the consumer (high-water mark 0), cancelling the stream returns the generator
 * (releasing what it holds), and an error from the generator errors the stream, which
 * an HTTP server turns into an aborted response rather than a clean but short one.
 * Until its first read, the generator can be taken back with {@link takeByteSource}.
 */
export function toReadableStream(source: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  const stream: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        unread.delete(stream)
        try {
          const { value, done } = await source.next()
          if (done === true) controller.close()
          else controller.enqueue(value)
        } catch (err) {
          controller.error(err)
        }
      },
      async cancel() {
        unread.delete(stream)
        await source.return(undefined)
      },
    },
    { highWaterMark: 0 },
  )
  unread.set(stream, source)
  return stream
}

/**
 * The generator behind `stream` when it came from {@link toReadableStream} and was never
 * read, locked or cancelled; the stream is then locked for good, and the caller owns the
 * generator (it must run it to the end or `return` it). Lets a node:http server write
 * the chunks directly, skipping the WHATWG stream machinery. `undefined` otherwise.
 */
export function takeByteSource(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> | undefined {
  const source = unread.get(stream)
  if (source === undefined || stream.locked) return undefined
  unread.delete(stream)
  stream.getReader() // nobody else may read it now
  return source
}
