// The mdz web app: boot (refresh cookie → access token), routing, and the views.
import './style.css'
import * as api from './api'
import { h, field, errorBox } from './dom'
import { parse, listen, go, type Route } from './router'
import { projectView } from './project'
import { settingsView } from './settings'
import { notificationsView } from './notifications'
import { searchView } from './search'
import { verifyEmailView, forgotPasswordView, resetPasswordView } from './account'

const app = document.getElementById('app') as HTMLElement
let user: api.User | null = null
let teardown: (() => void) | null = null

function page (title: string, ...content: Node[]): void {
  teardown?.()
  teardown = null
  document.title = title === 'mdz' ? 'mdz' : `${title} · mdz`
  const header = h('header', { class: 'top' },
    h('a', { href: '/', class: 'brand' }, 'mdz'),
    user ? h('span', { class: 'me' }, user.display_name) : null,
    user ? h('a', { href: '/notifications' }, 'Notifications') : null,
    user ? h('a', { href: '/settings' }, 'Settings') : null,
    user ? h('button', { type: 'button', onclick: signOut }, 'Sign out') : null)
  app.replaceChildren(header, h('main', { id: 'main' }, ...content))
}

async function signOut (): Promise<void> {
  await api.logout()
  user = null
  go('/signin')
}

function authView (mode: 'signin' | 'signup'): void {
  const name = h('input', { type: 'text', autocomplete: 'name', required: true })
  const email = h('input', { type: 'email', autocomplete: 'email', required: true })
  const password = h('input', { type: 'password', autocomplete: mode === 'signup' ? 'new-password' : 'current-password', required: true })
  const err = errorBox()
  const submit = h('button', { type: 'submit' }, mode === 'signup' ? 'Create account' : 'Sign in')
  const form = h('form', { class: 'card', 'aria-label': mode === 'signup' ? 'Create account' : 'Sign in' },
    h('h1', {}, mode === 'signup' ? 'Create an account' : 'Sign in to mdz'),
    mode === 'signup' ? field('Name', name) : null,
    field('Email', email), field('Password', password), err, submit,
    h('p', {}, mode === 'signup'
      ? h('a', { href: '/signin' }, 'I have an account: sign in')
      : h('a', { href: '/signup' }, 'New here? Create an account')),
    mode === 'signin' ? h('p', {}, h('a', { href: '/forgot-password' }, 'Forgot your password?')) : null)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    submit.disabled = true
    const done = mode === 'signup'
      ? api.register(email.value, password.value, name.value)
      : api.login(email.value, password.value)
    done.then((u) => { user = u; go(redirectAfter()) })
      .catch((e: unknown) => err.show(e instanceof Error ? e.message : String(e)))
      .finally(() => { submit.disabled = false })
  })
  page(mode === 'signup' ? 'Create account' : 'Sign in', form)
  if (mode === 'signin') void singleSignOn(form, err)
}

// Why single sign-on sent the browser back (`/signin?sso_error=…`, see crates/auth/src/oidc).
const SSO_ERRORS: Record<string, string> = {
  state: 'The sign-in was interrupted or started in another browser. Try again.',
  expired: 'The sign-in took too long. Try again.',
  denied: 'The sign-in provider did not sign you in.',
  unavailable: 'The sign-in provider cannot be reached right now. Try again later.',
  code: 'The sign-in provider’s answer could not be used. Try again.',
  token: 'The sign-in provider’s answer could not be verified. Try again.',
  email_missing: 'The sign-in provider did not share your e-mail address.',
  email_unverified: 'Your e-mail address is not verified at the sign-in provider.',
  account_unverified: 'An account with your address exists but has not confirmed it: sign in with its password and confirm the address (or reset the password), then use single sign-on.',
  already_linked: 'The account with your address is linked to another identity at the sign-in provider.',
  no_account: 'No account has your e-mail address, and single sign-on does not create accounts here.',
  rate_limited: 'Too many sign-ins from your network. Try again later.',
  retry: 'Signing in failed. Try again.',
  failed: 'Signing in failed. Try again.'
}

/** The sign-in page's single sign-on: the reason of a refusal, and the button when the server
 * has a provider (the password form goes when passwords are off). */
async function singleSignOn (form: HTMLFormElement, err: ReturnType<typeof errorBox>): Promise<void> {
  const code = new URLSearchParams(location.search).get('sso_error')
  if (code) err.show(SSO_ERRORS[code] ?? SSO_ERRORS.failed)
  let providers: { password: boolean, sso: boolean, sso_start?: string | null }
  try {
    const res = await fetch('/api/v1/auth/providers')
    if (!res.ok) return
    providers = await res.json()
  } catch { return }
  if (!providers.sso || !providers.sso_start) return
  const start = providers.sso_start
  const sso = h('button', {
    type: 'button',
    onclick: () => location.assign(`${start}?return_to=${encodeURIComponent(redirectAfter())}`)
  }, 'Sign in with SSO')
  if (!providers.password) {
    form.replaceChildren(h('h1', {}, 'Sign in to mdz'), err, sso)
  } else {
    form.append(h('p', {}, 'or'), sso)
  }
}

function redirectAfter (): string {
  const back = sessionStorage.getItem('mdz.back')
  sessionStorage.removeItem('mdz.back')
  return back && (back.startsWith('/p/') || back.startsWith('/invite/')) ? back : '/'
}

async function homeView (): Promise<void> {
  const list = h('ul', { class: 'projects' })
  const err = errorBox()
  const newName = h('input', { type: 'text', required: true, maxlength: '100' })
  const form = h('form', { class: 'inline', hidden: true, 'aria-label': 'New project' },
    field('Project name', newName), h('button', { type: 'submit' }, 'Create'))
  const open = h('button', {
    type: 'button',
    'aria-expanded': 'false',
    onclick: () => {
      form.hidden = !form.hidden
      open.setAttribute('aria-expanded', String(!form.hidden))
      if (!form.hidden) newName.focus()
    }
  }, 'New project')
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    api.api<api.Project>('POST', '/projects', { name: newName.value })
      .then((p) => go(`/p/${p.id}`))
      .catch((e: unknown) => err.show(String((e as Error).message)))
  })
  // A project just deleted by its owner can be brought back from here.
  const notice = h('div', { role: 'status' })
  const deleted = sessionStorage.getItem('mdz.deleted')
  if (deleted) {
    sessionStorage.removeItem('mdz.deleted')
    const d = JSON.parse(deleted) as { id: string, name: string }
    notice.append(`Deleted “${d.name}”. `, h('button', {
      type: 'button',
      onclick: () => { void api.api('POST', `/projects/${d.id}/restore`).then(() => go(`/p/${d.id}`)).catch((e: unknown) => err.show((e as Error).message)) }
    }, 'Restore project'))
  }
  page('Projects', h('h1', {}, 'Projects'), notice,
    h('p', {}, h('a', { href: '/search' }, 'Search all projects')), open, form, err, list)
  try {
    const projects = await api.all<api.Project>('/projects')
    list.replaceChildren(...projects.map((p) => h('li', {}, h('a', { href: `/p/${p.id}` }, p.name), ' ', h('span', { class: 'role' }, p.role))))
    if (!projects.length) list.replaceChildren(h('li', {}, 'No projects yet: create one.'))
  } catch (e) {
    err.show(e instanceof api.NetworkError ? 'Offline: the project list needs the server.' : String((e as Error).message))
  }
}

async function route (): Promise<void> {
  const r: Route = parse(location.pathname)
  if (r.name === 'signin' || r.name === 'signup') return authView(r.name)
  // The pages mails link to work signed in or not.
  if (r.name === 'verify-email') return verifyEmailView(page, user !== null)
  if (r.name === 'forgot-password') return forgotPasswordView(page)
  if (r.name === 'reset-password') return resetPasswordView(page)
  if (!user) {
    if (r.name === 'project' || r.name === 'invite') sessionStorage.setItem('mdz.back', location.pathname)
    history.replaceState(null, '', '/signin')
    return authView('signin')
  }
  if (r.name === 'project') {
    page('Project')
    const main = document.getElementById('main') as HTMLElement
    teardown = await projectView(main, user, r.project, r.file)
    return
  }
  if (r.name === 'invite') {
    const err = errorBox()
    const accept = h('button', {
      type: 'button',
      onclick: () => {
        api.api<{ project_id: string }>('POST', `/invitations/${r.token}/accept`)
          .then((m) => go(`/p/${m.project_id}`))
          .catch((e: unknown) => err.show((e as Error).message))
      }
    }, 'Accept invitation')
    page('Invitation', h('h1', {}, 'You are invited to a project'), accept, err)
    return
  }
  if (r.name === 'notifications') {
    page('Notifications')
    notificationsView(document.getElementById('main') as HTMLElement)
    return
  }
  if (r.name === 'search') {
    page('Search')
    searchView(document.getElementById('main') as HTMLElement)
    return
  }
  if (r.name === 'settings') {
    page('Settings')
    settingsView(document.getElementById('main') as HTMLElement)
    return
  }
  return homeView()
}

async function boot (): Promise<void> {
  try {
    if (await api.refresh()) user = api.cachedUser()
  } catch (e) {
    // Offline (or the server is down): keep working on what this device has.
    if (e instanceof api.NetworkError) user = api.cachedUser()
  }
  listen(() => { void route() })
  await route()
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js').catch(() => { /* the app works without it */ })
  }
}

void boot()
