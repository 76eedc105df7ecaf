import { useEffect, useRef, useState } from 'react'
import { api, type EntryView, unwrap } from '../../api/client'
import type { PinStatus } from '../../api/cluster'
import { CopyButton, ErrorText, Progress } from '../../components/ui'
import { downloadEntry } from '../../lib/download'
import { formatBytes, formatDate } from '../../lib/format'
import { useLiveReload } from '../../lib/events'
import { useLoad } from '../../lib/hooks'

/** Replication status follows the live event stream; polled this often only while the stream is down. */
const POLL_MS = 2000

export function DetailsPanel(props: { entry: EntryView | null; onClose: () => void; onMove: (e: EntryView) => void; onDelete: (e: EntryView) => void }) {
  const { entry } = props
  const heading = useRef<HTMLHeadingElement>(null)
  // move focus (and, on a narrow screen, the view) to the details of what was just opened
  useEffect(() => {
    if (entry) heading.current?.focus()
  }, [entry?.id])
  if (!entry) return null
  return (
    <aside className="details card" aria-labelledby="details-title">
      <div className="details-head">
        <h2 id="details-title" ref={heading} tabIndex={-1}>
          {entry.name}
        </h2>
        <button type="button" className="secondary small" onClick={props.onClose} aria-label="Close details">
          ✕
        </button>
      </div>
      <dl>
        <dt>Kind</dt>
        <dd>{entry.kind === 'folder' ? 'folder (one unit, one CID)' : entry.kind}</dd>
        <dt>Path</dt>
        <dd className="wrap">{entry.path}</dd>
        {entry.cid && (
          <>
            <dt>CID</dt>
            <dd className="cid-row">
              <code className="wrap" data-testid="entry-cid">
                {entry.cid}
              </code>
              <CopyButton text={entry.cid} label="Copy CID" />
            </dd>
          </>
        )}
        {entry.kind !== 'directory' && (
          <>
            <dt>Size</dt>
            <dd>
              {formatBytes(entry.size)} <span className="muted">({entry.size.toLocaleString()} bytes)</span>
            </dd>
          </>
        )}
        <dt>Modified</dt>
        <dd>{formatDate(entry.mtime)}</dd>
        <dt>Created</dt>
        <dd>{formatDate(entry.createdAt)}</dd>
        {entry.kind !== 'directory' && (
          <>
            <dt>Version</dt>
            <dd>{entry.version}</dd>
          </>
        )}
      </dl>
      {entry.cid && <Replication key={entry.cid} cid={entry.cid} />}
      {entry.cid && <GatewayLink cid={entry.cid} />}
      <Download entry={entry} />
      <div className="details-actions">
        {entry.parentId !== null && (
          <>
            <button type="button" className="secondary" onClick={() => props.onMove(entry)}>
              Rename / move
            </button>
            <button type="button" className="danger" onClick={() => props.onDelete(entry)}>
              Delete
            </button>
          </>
        )}
      </div>
    </aside>
  )
}

/** The CID on the content gateway: its own origin when one is configured, never to be opened on the portal's. */
function GatewayLink({ cid }: { cid: string }) {
  const gateway = useLoad(() => unwrap(api.GET('/api/v1/gateway')), [])
  const url = `${gateway.data?.url ?? window.location.origin}/ipfs/${cid}`
  return (
    <p className="gateway">
      Gateway: <code className="wrap">{url}</code> <CopyButton text={url} label="Copy gateway URL" />
      <span className="hint">Readers need an access token (Authorization: Bearer) unless the gateway is public.</span>
    </p>
  )
}

function Download({ entry }: { entry: EntryView }) {
  const [state, setState] = useState<{ received: number; total: number | null } | null>(null)
  const [error, setError] = useState<string | null>(null)
  async function run() {
    setError(null)
    setState({ received: 0, total: entry.kind === 'file' ? entry.size : null })
    try {
      await downloadEntry(entry, (received, total) => setState({ received, total }))
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    } finally {
      setState(null)
    }
  }
  return (
    <div className="download">
      <button type="button" onClick={run} disabled={state !== null}>
        {entry.kind === 'file' ? 'Download' : 'Download as tar'}
      </button>
      {state && (
        <>
          {state.total ? <Progress value={state.received} max={state.total} label="Download progress" /> : null}
          <span className="muted">{formatBytes(state.received)} received</span>
        </>
      )}
      <ErrorText error={error} />
    </div>
  )
}

function Replication({ cid }: { cid: string }) {
  const status = useLoad(async () => {
    const { data, response } = await api.GET('/api/v1/pins/{cid}/status', { params: { path: { cid } } })
    if (response.status === 404) return null
    if (!response.ok) throw new Error(`replication status unavailable (HTTP ${response.status})`)
    return data as unknown as PinStatus
  }, [cid])
  useLiveReload(status.reload, (event) => event.type === 'pin-status' && event.cid === cid, POLL_MS)
  const pin = status.data
  return (
    <section className="replication" aria-labelledby="replication-title">
      <h3 id="replication-title">Replication</h3>
      {status.error && <p className="muted">{status.error}</p>}
      {pin === null && <p className="muted">Not replicated yet.</p>}
      {pin && (
        <>
          <p>
            Wanted: {pin.replicationMin === -1 ? 'a copy on every node' : `${pin.replicationMin}–${pin.replicationMax === -1 ? 'all' : pin.replicationMax} copies`} ·{' '}
            {pin.allocations.filter((a) => a.status === 'pinned').length} pinned
            {pin.underReplicated ? <strong className="warn"> · under-replicated: {pin.underReplicated.reason}</strong> : null}
          </p>
          {pin.allocations.length === 0 ? (
            <p className="muted">Not replicated yet: no storage node has been allocated.</p>
          ) : (
            <ul className="allocations" aria-live="polite">
              {pin.allocations.map((a) => (
                <li key={a.nodeId}>
                  <span className={`badge badge-${a.status}`}>{a.status}</span> {a.nodeName ?? a.nodeId}{' '}
                  <span className="muted">
                    ({a.nodeStatus}
                    {a.attempts > 1 ? `, ${a.attempts} attempts` : ''}
                    {a.reason ? `: ${a.reason}` : ''})
                  </span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  )
}
