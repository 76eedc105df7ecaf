import { useState } from 'react'
import { type Account, api, errorMessage, unwrap } from '../api/client'
import { Dialog, ErrorText } from '../components/ui'
import { formatBytes, formatDate } from '../lib/format'
import { useLoad } from '../lib/hooks'

const GB = 1e9

/** GB in a text field ↔ bytes in the API; empty = unlimited. */
function toBytes(text: string): number | null {
  const value = Number(text)
  return text.trim() === '' || !Number.isFinite(value) || value <= 0 ? null : Math.round(value * GB)
}

export function AccountsPage() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined])
  const cursor = cursors[cursors.length - 1]
  const accounts = useLoad(() => unwrap(api.GET('/api/v1/accounts', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })), [cursor])
  const [editing, setEditing] = useState<Account | null>(null)
  const [resetting, setResetting] = useState<Account | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [role, setRole] = useState<'user' | 'admin'>('user')
  const [quota, setQuota] = useState('')
  const [message, setMessage] = useState<string | null>(null)

  async function create(event: React.FormEvent) {
    event.preventDefault()
    setError(null)
    setMessage(null)
    try {
      const body = { email: email.trim(), password, role, ...(quota.trim() ? { quotaStorageBytes: toBytes(quota) } : {}) }
      const created = await unwrap(api.POST('/api/v1/accounts', { body }))
      setMessage(`Created ${created.email}.`)
      setEmail('')
      setPassword('')
      setQuota('')
      accounts.reload()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }

  async function setDisabled(account: Account, disabled: boolean) {
    setError(null)
    try {
      await unwrap(api.PATCH('/api/v1/accounts/{id}', { params: { path: { id: account.id } }, body: { disabled } }))
      accounts.reload()
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }

  return (
    <div className="page">
      <h1>Accounts and quotas</h1>
      <form className="card form-grid" onSubmit={create} aria-labelledby="new-account">
        <h2 id="new-account">New account</h2>
        <label htmlFor="acct-email">Email</label>
        <input id="acct-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />
        <label htmlFor="acct-password">Password (8+ characters)</label>
        <input id="acct-password" type="password" minLength={8} required value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
        <label htmlFor="acct-role">Role</label>
        <select id="acct-role" value={role} onChange={(e) => setRole(e.target.value as 'user' | 'admin')}>
          <option value="user">user</option>
          <option value="admin">admin</option>
        </select>
        <label htmlFor="acct-quota">Storage quota in GB (empty: the default)</label>
        <input id="acct-quota" inputMode="decimal" value={quota} onChange={(e) => setQuota(e.target.value)} />
        <ErrorText error={error} />
        {message && <p role="status">{message}</p>}
        <button type="submit">Create account</button>
      </form>

      <ErrorText error={accounts.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Storage quota</th>
              <th scope="col" className="hide-narrow">
                Upload limit
              </th>
              <th scope="col" className="hide-narrow">
                Created
              </th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {accounts.data?.accounts.map((account) => (
              <tr key={account.id}>
                <td>{account.email}</td>
                <td>{account.role}</td>
                <td>{account.quotaStorageBytes === null ? 'unlimited' : formatBytes(account.quotaStorageBytes)}</td>
                <td className="hide-narrow">{account.quotaUploadBytes === null ? 'unlimited' : formatBytes(account.quotaUploadBytes)}</td>
                <td className="hide-narrow">{formatDate(account.createdAt)}</td>
                <td>
                  <span className={`badge badge-${account.disabled ? 'revoked' : 'active'}`}>{account.disabled ? 'disabled' : 'active'}</span>
                </td>
                <td className="row-actions">
                  <button type="button" className="secondary small" onClick={() => setEditing(account)} aria-label={`Quotas of ${account.email}`}>
                    Quotas
                  </button>
                  <button type="button" className="secondary small" onClick={() => setResetting(account)} aria-label={`Reset the password of ${account.email}`}>
                    Reset password
                  </button>
                  <button type="button" className="secondary small" onClick={() => setDisabled(account, !account.disabled)}>
                    {account.disabled ? 'Enable' : 'Disable'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="pager">
        <button type="button" className="secondary" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Previous
        </button>
        <button type="button" className="secondary" disabled={!accounts.data?.cursor} onClick={() => setCursors((c) => [...c, accounts.data?.cursor])}>
          Next
        </button>
      </div>
      {resetting && (
        <PasswordDialog
          account={resetting}
          onClose={(changed) => {
            setResetting(null)
            if (changed) setMessage(`New password set for ${resetting.email}; their sessions have ended.`)
          }}
        />
      )}
      {editing && (
        <QuotaDialog
          account={editing}
          onClose={(changed) => {
            setEditing(null)
            if (changed) accounts.reload()
          }}
        />
      )}
    </div>
  )
}

function QuotaDialog({ account, onClose }: { account: Account; onClose: (changed: boolean) => void }) {
  const gb = (bytes: number | null) => (bytes === null ? '' : String(bytes / GB))
  const [storage, setStorage] = useState(gb(account.quotaStorageBytes))
  const [upload, setUpload] = useState(gb(account.quotaUploadBytes))
  const [error, setError] = useState<string | null>(null)
  async function submit(event: React.FormEvent) {
    event.preventDefault()
    try {
      await unwrap(
        api.PATCH('/api/v1/accounts/{id}', {
          params: { path: { id: account.id } },
          body: { quotaStorageBytes: toBytes(storage), quotaUploadBytes: toBytes(upload) },
        }),
      )
      onClose(true)
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }
  return (
    <Dialog title={`Quotas of ${account.email}`} open onClose={() => onClose(false)}>
      <form onSubmit={submit}>
        <label htmlFor="q-storage">Storage quota (GB, empty = unlimited)</label>
        <input id="q-storage" inputMode="decimal" value={storage} onChange={(e) => setStorage(e.target.value)} autoFocus />
        <label htmlFor="q-upload">Largest single upload (GB, empty = unlimited)</label>
        <input id="q-upload" inputMode="decimal" value={upload} onChange={(e) => setUpload(e.target.value)} />
        <ErrorText error={error} />
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit">Save</button>
        </div>
      </form>
    </Dialog>
  )
}

/** An admin sets a new password for someone (forgotten, or the first-start one replaced). */
function PasswordDialog({ account, onClose }: { account: Account; onClose: (changed: boolean) => void }) {
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  async function submit(event: React.FormEvent) {
    event.preventDefault()
    try {
      await unwrap(api.PATCH('/api/v1/accounts/{id}', { params: { path: { id: account.id } }, body: { password } }))
      onClose(true)
    } catch (failure) {
      setError(errorMessage(failure))
    }
  }
  return (
    <Dialog title={`Reset the password of ${account.email}`} open onClose={() => onClose(false)}>
      <form onSubmit={submit}>
        <label htmlFor="reset-password">New password (8+ characters)</label>
        <input id="reset-password" type="password" minLength={8} required autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} autoFocus />
        <ErrorText error={error} />
        <div className="dialog-actions">
          <button type="button" className="secondary" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit">Set password</button>
        </div>
      </form>
    </Dialog>
  )
}
