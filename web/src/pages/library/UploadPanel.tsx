import { useEffect, useSyncExternalStore } from 'react'
import { CopyButton, Progress } from '../../components/ui'
import { formatBytes } from '../../lib/format'
import { uploader } from '../../lib/uploader'

const snapshot = () => uploader.items

export function UploadPanel() {
  const items = useSyncExternalStore((listener) => uploader.subscribe(listener), snapshot)
  const overall = uploader.overall()
  useLeaveWarning(overall.active > 0)
  if (items.length === 0) return null
  const failed = items.filter((item) => item.status === 'error').length
  return (
    <section className="uploads card" aria-labelledby="uploads-title">
      <div className="details-head">
        <h2 id="uploads-title">Uploads</h2>
        <button type="button" className="secondary small" onClick={() => uploader.clearFinished()} disabled={overall.active === items.length}>
          Clear finished
        </button>
      </div>
      <div className="overall">
        <Progress value={overall.sent} max={overall.total} label="Overall upload progress" />
        <span>
          {formatBytes(overall.sent)} of {formatBytes(overall.total)} · {overall.active > 0 ? `${overall.active} in progress` : failed > 0 ? `finished, ${failed} failed` : 'all done'}
        </span>
      </div>
      <ul>
        {items.map((item) => (
          <li key={item.key} data-testid="upload-item" data-status={item.status}>
            <div className="upload-line">
              <span className="upload-name">
                <span className={`icon icon-${item.kind === 'folder' ? (item.mode === 'folder' ? 'folder' : 'directory') : 'file'}`} aria-hidden="true" />
                {item.name}
                <span className="muted">
                  {' '}
                  {item.kind === 'folder' ? `${item.fileCount} files, ${item.mode === 'folder' ? 'one unit' : 'into a directory'}` : ''} · {formatBytes(item.totalBytes)}
                </span>
              </span>
              <span className={`badge badge-${item.status}`}>{item.status}</span>
            </div>
            <Progress value={item.sentBytes} max={item.totalBytes || 1} label={`Upload of ${item.name}`} />
            {item.detail && (
              <p className={item.status === 'error' ? 'error wrap-text' : 'muted wrap-text'} role={item.status === 'error' ? 'alert' : undefined}>
                {item.detail}
              </p>
            )}
            {item.cid && (
              <p className="cid-row">
                <code className="wrap">{item.cid}</code> <CopyButton text={item.cid} label="Copy CID" />
              </p>
            )}
            {item.resumable && item.status === 'uploading' && (
              <button type="button" className="secondary small" onClick={() => uploader.pause(item.key)}>
                Pause
              </button>
            )}
            {item.status === 'paused' && (
              <button type="button" className="secondary small" onClick={() => uploader.resume(item.key)}>
                Resume
              </button>
            )}
            {uploader.cancellable(item) && (
              <button type="button" className="secondary small" onClick={() => uploader.cancel(item.key)} aria-label={`Cancel upload of ${item.name}`}>
                Cancel
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  )
}

/** Asks before the page is left (closed, reloaded, navigated away) while uploads run. */
function useLeaveWarning(active: boolean): void {
  useEffect(() => {
    if (!active) return
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault()
      // older browsers show the prompt only when returnValue is set
      event.returnValue = ''
    }
    window.addEventListener('beforeunload', warn)
    return () => window.removeEventListener('beforeunload', warn)
  }, [active])
}
