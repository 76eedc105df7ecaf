/**
 * Wraps an async generator of bytes in a pull-based `ReadableStream`: nothing is read
 * ahead of the consumer beyond one chunk, cancelling the stream returns the generator
 * (releasing what it holds), and an error from the generator errors the stream, which
 * an HTTP server turns into an aborted response rather than a clean but short one.
 */
export function toReadableStream(source: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await source.next()
        if (done === true) controller.close()
        else controller.enqueue(value)
      } catch (err) {
        controller.error(err)
      }
    },
    async cancel() {
      await source.return(undefined)
    },
  })
}
