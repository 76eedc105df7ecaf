import { useState } from 'react'
import { api, errorMessage, unwrap } from '../api/client'
import { ErrorText } from '../components/ui'
import { useLoad } from '../lib/hooks'
import { session } from '../lib/session'

/**
 * The signed-in user's own account: change the password. The server then ends every
 * session of the account (other browsers, stolen tokens); this browser signs in again with
 * the new password, so the user stays where they are.
 */
export function AccountPage() {
  const account = useLoad(() => unwrap(api.GET('/api/v1/account')), [])
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [repeat, setRepeat] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function change(event: React.FormEvent) {
    event.preventDefault()
    setError(null)
    setMessage(null)
    if (next !== repeat) {
      setError('the new passwords do not match')
      return
    }
    const email = account.data?.email
    if (!email) return
    setBusy(true)
    try {
      await unwrap(api.PATCH('/api/v1/account', { body: { currentPassword: current, password: next } }))
      const signedIn = await unwrap(api.POST('/api/v1/auth/token', { body: { email, password: next, session: true } }))
      session.start({ token: signedIn.accessToken, expiresAt: Date.parse(signedIn.expiresAt), label: email, renewable: true })
      setCurrent('')
      setNext('')
      setRepeat('')
      setMessage('Password changed. Other browsers and devices have been signed out.')
    } catch (failure) {
      setError(errorMessage(failure))
    } finally {
      setBusy(false)
    }
  }

  const canChange = session.get()?.renewable === true
  return (
    <div className="page">
      <h1>Account</h1>
      <p>
        Signed in as <strong>{account.data?.email ?? '…'}</strong>
        {account.data?.role === 'admin' ? ' (admin)' : ''}.
      </p>
      <form className="card form-grid" onSubmit={change} aria-labelledby="password-title">
        <h2 id="password-title">Change password</h2>
        {!canChange && <p className="notice">Signed in with an API key: sign in with your email and password to change it.</p>}
        <label htmlFor="pw-current">Current password</label>
        <input id="pw-current" type="password" required autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
        <label htmlFor="pw-new">New password (8+ characters)</label>
        <input id="pw-new" type="password" required minLength={8} autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
        <label htmlFor="pw-repeat">New password again</label>
        <input id="pw-repeat" type="password" required minLength={8} autoComplete="new-password" value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        <ErrorText error={error} />
        {message && (
          <p className="notice" role="status">
            {message}
          </p>
        )}
        <button type="submit" disabled={busy || !canChange}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </div>
  )
}
