import { useState } from 'react'
import { api, type CreatedKey, errorMessage, unwrap } from '../api/client'
import { CopyButton, ErrorText } from '../components/ui'
import { formatDate } from '../lib/format'
import { useLoad } from '../lib/hooks'

type Scope = 'read' | 'write' | 'admin'

export function KeysPage() {
  const keys = useLoad(async () => (await unwrap(api.GET('/api/v1/keys'))).keys, [])
  const [description, setDescription] = useState('')
  const [expiry, setExpiry] = useState('365')
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(['read', 'write']))
  const [created, setCreated] = useState<CreatedKey | null>(null)
  const [error, setError] = useState<string | null>(null)

  async function create(event: React.FormEvent) {
    event.preventDefault()
    setError(null)
    try {
      const body = { description: description.trim(), scopes: [...scopes], expiresInDays: expiry === 'never' ? null : Number(expiry) }
      setCreated(await unwrap(api.POST('/api/v1/keys', { body })))
      setDescription('')
      keys.reload()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }

  async function revoke(id: string, label: string) {
    if (!window.confirm(`Revoke the key “${label}”? Programs using it will stop getting new tokens.`)) return
    try {
      await unwrap(api.DELETE('/api/v1/keys/{id}', { params: { path: { id } } }))
      keys.reload()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }

  const toggle = (scope: Scope) =>
    setScopes((current) => {
      const next = new Set(current)
      if (next.has(scope)) next.delete(scope)
      else next.add(scope)
      return next
    })

  return (
    <div className="page">
      <h1>API keys</h1>
      <p className="lead">Programs, the CLI and scripts sign in with an API key: POST it to /api/v1/auth/token for an access token.</p>
      <form className="card form-grid" onSubmit={create} aria-labelledby="new-key">
        <h2 id="new-key">New key</h2>
        <label htmlFor="key-description">Description</label>
        <input id="key-description" maxLength={200} value={description} onChange={(e) => setDescription(e.target.value)} placeholder="e.g. backup script on nas" />
        <label htmlFor="key-expiry">Expires</label>
        <select id="key-expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
          <option value="7">in 7 days</option>
          <option value="30">in 30 days</option>
          <option value="90">in 90 days</option>
          <option value="365">in a year</option>
          <option value="never">never</option>
        </select>
        <fieldset>
          <legend>Scopes</legend>
          {(['read', 'write', 'admin'] as const).map((scope) => (
            <label key={scope} className="inline">
              <input type="checkbox" checked={scopes.has(scope)} onChange={() => toggle(scope)} /> {scope}
            </label>
          ))}
        </fieldset>
        <ErrorText error={error} />
        <button type="submit" disabled={scopes.size === 0}>
          Create key
        </button>
      </form>

      {created && (
        <section className="card secret" aria-labelledby="secret-title" role="status">
          <h2 id="secret-title">Your new key</h2>
          <p>
            <strong>Copy it now: it is shown only once.</strong>
          </p>
          <p className="cid-row">
            <code className="wrap" data-testid="new-key-secret">
              {created.secret}
            </code>
            <CopyButton text={created.secret} label="Copy key" />
          </p>
          <button type="button" className="secondary" onClick={() => setCreated(null)}>
            I have saved it
          </button>
        </section>
      )}

      <h2>Your keys</h2>
      <ErrorText error={keys.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col">Key starts</th>
              <th scope="col">Scopes</th>
              <th scope="col" className="hide-narrow">
                Created
              </th>
              <th scope="col">Expires</th>
              <th scope="col" className="hide-narrow">
                Last used
              </th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.length === 0 && (
              <tr>
                <td colSpan={8} className="empty">
                  No keys yet.
                </td>
              </tr>
            )}
            {keys.data?.map((key) => (
              <tr key={key.id}>
                <td>{key.description || <span className="muted">(none)</span>}</td>
                <td>
                  <code>{key.prefix}…</code>
                </td>
                <td>{key.scopes.join(', ')}</td>
                <td className="hide-narrow">{formatDate(key.createdAt)}</td>
                <td>{key.expiresAt ? formatDate(key.expiresAt) : 'never'}</td>
                <td className="hide-narrow">{formatDate(key.lastUsedAt)}</td>
                <td>
                  <span className={`badge badge-${key.status}`}>{key.status}</span>
                </td>
                <td>
                  {key.status === 'active' && (
                    <button type="button" className="danger small" onClick={() => revoke(key.id, key.description || key.prefix)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}
