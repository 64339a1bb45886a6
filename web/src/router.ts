// History-API routing: /, /signin, /signup, /search, /p/<project>, /p/<project>/f/<file>, and
// the pages mails link to: /verify-email, /forgot-password, /reset-password (token in the query).
export type Route =
  | { name: 'home' } | { name: 'signin' } | { name: 'signup' } | { name: 'settings' } | { name: 'notifications' } | { name: 'search' } | { name: 'invite', token: string }
  | { name: 'project', project: string, file?: string }
  | { name: 'verify-email' } | { name: 'forgot-password' } | { name: 'reset-password' }

export function parse (path: string): Route {
  const m = path.match(/^\/p\/([0-9a-f-]{36})(?:\/f\/([0-9a-f-]{36}))?\/?$/)
  if (m) return { name: 'project', project: m[1], file: m[2] }
  if (path === '/signin') return { name: 'signin' }
  if (path === '/signup') return { name: 'signup' }
  const inv = path.match(/^\/invite\/([A-Za-z0-9_-]+)$/)
  if (inv) return { name: 'invite', token: inv[1] }
  if (path === '/settings') return { name: 'settings' }
  if (path === '/notifications') return { name: 'notifications' }
  if (path === '/search') return { name: 'search' }
  if (path === '/verify-email') return { name: 'verify-email' }
  if (path === '/forgot-password') return { name: 'forgot-password' }
  if (path === '/reset-password') return { name: 'reset-password' }
  return { name: 'home' }
}

let onChange: () => void = () => {}
export function listen (fn: () => void): void {
  onChange = fn
  window.addEventListener('popstate', fn)
  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest?.('a')
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return
    const href = a.getAttribute('href')
    if (!href || !href.startsWith('/') || a.target) return
    e.preventDefault()
    go(href)
  })
}

export function go (path: string): void {
  if (path !== location.pathname + location.search) history.pushState(null, '', path)
  onChange()
}
