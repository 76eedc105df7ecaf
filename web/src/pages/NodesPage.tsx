import { useState } from 'react'
import { api, errorMessage, unwrap } from '../api/client'
import type { NodeInfo } from '../api/cluster'
import { ErrorText, Progress } from '../components/ui'
import { formatBytes, formatDate } from '../lib/format'
import { useLiveReload } from '../lib/events'
import { useLoad } from '../lib/hooks'

export function NodesPage() {
  const nodes = useLoad(async () => {
    const { data, response } = await api.GET('/api/v1/nodes')
    if (response.status === 404) return null
    if (!response.ok) throw new Error(`nodes unavailable (HTTP ${response.status})`)
    return (data as unknown as { nodes: NodeInfo[] }).nodes
  }, [])
  // pin reports arrive as events; health and last-seen have none, so a slow poll stays
  useLiveReload(nodes.reload, (event) => event.type === 'pin-status', 2000, 10_000)
  const [error, setError] = useState<string | null>(null)
  const [message, setMessage] = useState<string | null>(null)

  async function act(what: string, call: () => Promise<unknown>) {
    setError(null)
    setMessage(null)
    try {
      await call()
      setMessage(what)
      nodes.reload()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }

  return (
    <div className="page">
      <h1>Storage nodes</h1>
      <p className="lead">
        Updated live as nodes report. Nodes join with <code>pinfold node --join URL</code> and the cluster secret.{' '}
        <button type="button" className="secondary small" onClick={() => act('Anti-entropy requested on every connected node.', () => unwrap(api.POST('/api/v1/sync')))}>
          Sync all now
        </button>
      </p>
      <ErrorText error={error ?? nodes.error} />
      {message && <p role="status">{message}</p>}
      {nodes.data === null && <p className="muted">This coordinator has no nodes API.</p>}
      {nodes.data?.length === 0 && <p className="muted">No storage node has joined yet.</p>}
      <div className="node-grid">
        {nodes.data?.map((node) => (
          <article key={node.id} className="card node" aria-labelledby={`node-${node.id}`}>
            <div className="details-head">
              <h2 id={`node-${node.id}`}>{node.name}</h2>
              <span className={`badge badge-${node.status}`}>{node.status}</span>
            </div>
            <p className="muted wrap">
              {node.id}
              {node.version ? ` · v${node.version}` : ''}
              {node.draining ? ' · draining' : ''}
            </p>
            <dl>
              <dt>Last seen</dt>
              <dd>{formatDate(node.lastSeen)}</dd>
              <dt>Pins</dt>
              <dd>
                {node.pins} held · {node.queued} queued · <span className={node.failed > 0 ? 'warn' : undefined}>{node.failed} failed</span>
              </dd>
              <dt>Tags</dt>
              <dd>
                {Object.keys(node.tags).length === 0
                  ? '—'
                  : Object.entries(node.tags).map(([k, v]) => (
                      <span key={k} className="tag">
                        {k}={v}
                      </span>
                    ))}
              </dd>
              <dt>Capacity</dt>
              <dd>
                {formatBytes(node.capacity.usedBytes)} used of {formatBytes(node.capacity.totalBytes)} · {formatBytes(node.capacity.availableBytes)} free
              </dd>
            </dl>
            {node.storage.length > 0 && (
              <ul className="paths">
                {node.storage.map((p) => (
                  <li key={p.id}>
                    <span>
                      {p.id} <span className="muted">(weight {p.weight})</span>
                    </span>
                    <Progress value={p.used} max={p.used + p.available} label={`Storage path ${p.id} used`} />
                    <span className="muted">
                      {formatBytes(p.used)} used · {formatBytes(p.available)} free
                    </span>
                  </li>
                ))}
              </ul>
            )}
            <div className="details-actions">
              <button
                type="button"
                className="secondary small"
                disabled={!node.connected}
                onClick={() => act(`Anti-entropy requested on ${node.name}.`, () => unwrap(api.POST('/api/v1/nodes/{id}/sync', { params: { path: { id: node.id } } })))}
              >
                Sync now
              </button>
              {!node.draining && node.status !== 'revoked' && (
                <button
                  type="button"
                  className="secondary small"
                  onClick={() =>
                    window.confirm(`Drain ${node.name}? Its pins move to other nodes, then its copies are released.`) &&
                    act(`${node.name} is draining.`, () => unwrap(api.POST('/api/v1/nodes/{id}/drain', { params: { path: { id: node.id } } })))
                  }
                >
                  Drain
                </button>
              )}
            </div>
          </article>
        ))}
      </div>
    </div>
  )
}
