import { api, errorMessage } from '../api/client'

/** Above this, and where the browser offers a save dialog we can stream into, bytes are not held in memory. */
const STREAM_TO_DISK_BYTES = 256 * 1024 * 1024

interface SaveFilePicker {
  showSaveFilePicker?: (options: { suggestedName: string }) => Promise<{ createWritable(): Promise<WritableStream<Uint8Array>> }>
}

/**
 * Downloads an entry (a file's bytes, or a tar of a folder or directory). The API needs the
 * bearer token, which a plain link cannot carry, so the content is fetched through the typed
 * client as a stream: into a file chosen in a save dialog for large downloads where the
 * browser can (File System Access API), else into a Blob handed to the browser as a download.
 */
export async function downloadEntry(
  entry: { id: string; name: string; kind: string; size: number },
  onProgress?: (received: number, total: number | null) => void,
): Promise<void> {
  const filename = entry.kind === 'file' ? entry.name : `${entry.name}.tar`
  const picker = (window as unknown as SaveFilePicker).showSaveFilePicker
  let sink: WritableStream<Uint8Array> | undefined
  if (picker && (entry.kind !== 'file' || entry.size >= STREAM_TO_DISK_BYTES)) {
    try {
      sink = await (await picker({ suggestedName: filename })).createWritable()
    } catch (error) {
      if ((error as Error).name === 'AbortError') return // the user closed the dialog
      sink = undefined
    }
  }
  const { data, error, response } = await api.GET('/api/v1/entries/{id}/content', {
    params: { path: { id: entry.id }, query: { download: '1' } },
    parseAs: 'stream',
  })
  if (error !== undefined || !data) throw new Error(errorMessage(error, `download failed: HTTP ${response.status}`))
  const length = Number(response.headers.get('content-length'))
  const total = Number.isFinite(length) && length > 0 ? length : null
  let received = 0
  const counted = (data as ReadableStream<Uint8Array>).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength
        onProgress?.(received, total)
        controller.enqueue(chunk)
      },
    }),
  )
  if (sink) {
    await counted.pipeTo(sink)
    return
  }
  const blob = await new Response(counted).blob()
  const url = URL.createObjectURL(blob)
  const anchor = document.createElement('a')
  anchor.href = url
  anchor.download = filename
  anchor.rel = 'noopener'
  document.body.append(anchor)
  anchor.click()
  anchor.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
