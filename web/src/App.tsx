import { useEffect, useSyncExternalStore } from 'react'
import { api } from './api/client'
import { useLoad } from './lib/hooks'
import { linkClick, navigate, useLocation } from './lib/router'
import { session } from './lib/session'
import { AccountPage } from './pages/AccountPage'
import { AccountsPage } from './pages/AccountsPage'
import { KeysPage } from './pages/KeysPage'
import { LibraryPage } from './pages/LibraryPage'
import { NodesPage } from './pages/NodesPage'
import { PinsPage } from './pages/PinsPage'
import { SignInPage } from './pages/SignInPage'
import { UsagePage } from './pages/UsagePage'

const NAV = [
  { href: '/library', label: 'Library' },
  { href: '/keys', label: 'API keys' },
  { href: '/usage', label: 'Usage & billing' },
  { href: '/account', label: 'Account' },
]
const ADMIN_NAV = [
  { href: '/admin/nodes', label: 'Nodes' },
  { href: '/admin/pins', label: 'Pins' },
  { href: '/admin/accounts', label: 'Accounts' },
]

export function App() {
  const current = useSyncExternalStore(session.subscribe, session.get)
  const restoring = useSyncExternalStore(session.subscribe, session.restoring)
  const { pathname, search } = useLocation()
  const next = search.get('next')

  useEffect(() => {
    if (restoring) return
    // the page asked for comes back after sign-in
    if (!current && pathname !== '/sign-in') navigate(`/sign-in${pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + window.location.search)}`}`, { replace: true })
    if (current && (pathname === '/sign-in' || pathname === '/')) navigate(returnPath(next), { replace: true })
  }, [current, restoring, pathname, next])

  if (restoring) return <p className="notice">Signing in…</p>
  if (!current) return <SignInPage />
  return <Shell pathname={pathname} label={current.label} token={current.token} />
}

function Shell({ pathname, label, token }: { pathname: string; label: string; token: string }) {
  const account = useLoad(async () => (await api.GET('/api/v1/account')).data, [token])
  const isAdmin = account.data?.role === 'admin'
  const page = pageFor(pathname, isAdmin)
  useEffect(() => {
    document.title = `${page.title} · Pinfold`
  }, [page.title])

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href="/library" onClick={linkClick}>
          <img src="/favicon.svg" alt="" width="24" height="24" /> Pinfold
        </a>
        <nav aria-label="Main">
          <ul>
            {[...NAV, ...(isAdmin ? ADMIN_NAV : [])].map((item) => (
              <li key={item.href}>
                <a href={item.href} onClick={linkClick} aria-current={pathname.startsWith(item.href) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span className="who-label" title={account.data?.email ?? label}>
            {account.data?.email ?? label}
            {isAdmin ? ' (admin)' : ''}
          </span>
          <button type="button" className="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page.element}
      </main>
    </div>
  )
}

function pageFor(pathname: string, isAdmin: boolean): { title: string; element: React.ReactNode } {
  if (pathname.startsWith('/keys')) return { title: 'API keys', element: <KeysPage /> }
  if (pathname.startsWith('/usage')) return { title: 'Usage & billing', element: <UsagePage /> }
  if (pathname.startsWith('/account')) return { title: 'Account', element: <AccountPage /> }
  if (pathname.startsWith('/admin/')) {
    if (!isAdmin) return { title: 'Admin', element: <p className="notice">These pages are for administrators.</p> }
    if (pathname.startsWith('/admin/nodes')) return { title: 'Nodes', element: <NodesPage /> }
    if (pathname.startsWith('/admin/pins')) return { title: 'Pins', element: <PinsPage /> }
    if (pathname.startsWith('/admin/accounts')) return { title: 'Accounts', element: <AccountsPage /> }
  }
  return { title: 'Library', element: <LibraryPage /> }
}

/** Only a path of this portal: `//evil.example` or `https://…` would leave it. */
function returnPath(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-in') ? next : '/library'
}

/** Ends the token on the server as well, so a copy of it (another tab, a leaked one) dies with the session. */
async function signOut(): Promise<void> {
  await api.POST('/api/v1/auth/sign-out', { body: {} }).catch(() => undefined)
  session.signOut('You have signed out.')
}
