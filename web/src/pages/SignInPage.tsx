import { useState } from 'react'
import { api, errorMessage } from '../api/client'
import { session } from '../lib/session'

export function SignInPage() {
  const [method, setMethod] = useState<'password' | 'key'>('password')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [apiKey, setApiKey] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const notice = session.notice()

  async function submit(event: React.FormEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    const body = method === 'password' ? { email: email.trim(), password, session: true } : { apiKey: apiKey.trim() }
    const { data, error: failure } = await api.POST('/api/v1/auth/token', { body }).catch((e: unknown) => ({ data: undefined, error: e }))
    setBusy(false)
    if (!data) {
      setError(errorMessage(failure, 'sign-in failed'))
      return
    }
    session.start({
      token: data.accessToken,
      expiresAt: Date.parse(data.expiresAt),
      label: method === 'password' ? email.trim() : 'API key',
      renewable: method === 'password',
    })
  }

  return (
    <main id="main" className="signin">
      <h1>
        <img src="/favicon.svg" alt="" width="32" height="32" /> Pinfold
      </h1>
      <form onSubmit={submit} aria-labelledby="signin-title" className="card">
        <h2 id="signin-title">Sign in</h2>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <fieldset className="segmented">
          <legend>Sign in with</legend>
          <label>
            <input type="radio" name="method" checked={method === 'password'} onChange={() => setMethod('password')} /> Email and password
          </label>
          <label>
            <input type="radio" name="method" checked={method === 'key'} onChange={() => setMethod('key')} /> API key
          </label>
        </fieldset>
        {method === 'password' ? (
          <>
            <label htmlFor="email">Email</label>
            <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <label htmlFor="password">Password</label>
            <input id="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </>
        ) : (
          <>
            <label htmlFor="apikey">API key</label>
            <input id="apikey" type="password" autoComplete="off" required value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
