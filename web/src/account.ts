// The pages the account mails link to, usable without signing in: /verify-email?token=…,
// /forgot-password and /reset-password?token=… (PUBLIC_URL + these paths, see the mail
// templates of crates/auth/src/email_flows.rs).
import * as api from './api'
import { h, field, errorBox } from './dom'

type Page = (title: string, ...content: Node[]) => void

const token = (): string => new URLSearchParams(location.search).get('token') ?? ''

/** POST without a session; the problem's title (and detail) on failure. */
async function post (path: string, body: unknown): Promise<void> {
  let res: Response
  try {
    res = await fetch('/api/v1' + path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    })
  } catch (e) {
    throw new api.NetworkError(String(e))
  }
  if (res.ok) return
  let msg = res.statusText || 'Request failed'
  try {
    const p = await res.json()
    msg = [p.title, p.detail ?? p.errors?.map((e: { field: string, message: string }) => `${e.field}: ${e.message}`).join('; ')]
      .filter(Boolean).join(': ')
  } catch { /* not JSON */ }
  throw new Error(msg)
}

export function verifyEmailView (page: Page, signedIn: boolean): void {
  const status = h('p', { role: 'status' }, 'Confirming your e-mail address…')
  const next = h('p', {}, h('a', { href: signedIn ? '/' : '/signin' }, signedIn ? 'Go to your projects' : 'Sign in'))
  page('Confirm e-mail', h('h1', {}, 'Confirm your e-mail address'), status, next)
  post('/auth/verify-email', { token: token() })
    .then(() => { status.textContent = 'Your e-mail address is confirmed.' })
    .catch((e: unknown) => {
      status.textContent = `This link does not work: ${(e as Error).message}. ` +
        'Sign in and ask for a new one under Settings.'
    })
}

export function forgotPasswordView (page: Page): void {
  const email = h('input', { type: 'email', autocomplete: 'email', required: true })
  const err = errorBox()
  const status = h('p', { role: 'status' })
  const submit = h('button', { type: 'submit' }, 'Send me a link')
  const form = h('form', { class: 'card', 'aria-label': 'Forgot password' },
    h('h1', {}, 'Forgot your password?'),
    h('p', {}, 'We mail you a link to choose a new one. It works once, for 30 minutes.'),
    field('Email', email), err, status, submit,
    h('p', {}, h('a', { href: '/signin' }, 'Back to sign in')))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    submit.disabled = true
    err.show(null)
    post('/auth/password/forgot', { email: email.value })
      .then(() => { status.textContent = 'If an account has this address, a link is on its way. Check your mail.' })
      .catch((e: unknown) => err.show((e as Error).message))
      .finally(() => { submit.disabled = false })
  })
  page('Forgot password', form)
}

export function resetPasswordView (page: Page): void {
  const password = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '10' })
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true })
  const err = errorBox()
  const status = h('p', { role: 'status' })
  const submit = h('button', { type: 'submit' }, 'Set password')
  const form = h('form', { class: 'card', 'aria-label': 'Choose a new password' },
    h('h1', {}, 'Choose a new password'),
    h('p', {}, 'Setting it signs you out on every device.'),
    field('New password', password), field('New password again', again), err, status, submit)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    err.show(null)
    if (password.value !== again.value) return err.show('The two passwords differ.')
    submit.disabled = true
    post('/auth/password/reset', { token: token(), password: password.value })
      .then(() => {
        form.replaceChildren(h('h1', {}, 'Password changed'),
          h('p', { role: 'status' }, 'Your new password is set and every device was signed out.'),
          h('p', {}, h('a', { href: '/signin' }, 'Sign in')))
      })
      .catch((e: unknown) => { err.show((e as Error).message); submit.disabled = false })
  })
  page('Reset password', form)
}

/** Settings: whether the address is confirmed, and a new link when it is not. */
export function verificationStatus (): HTMLElement {
  const box = h('section', { 'aria-label': 'E-mail address' })
  api.api<{ email: string, email_verified: boolean }>('GET', '/auth/me').then((me) => {
    if (me.email_verified) {
      box.replaceChildren(h('p', {}, `${me.email} — confirmed.`))
      return
    }
    const status = h('p', { role: 'status' })
    const send = h('button', {
      type: 'button',
      onclick: () => {
        send.disabled = true
        api.api('POST', '/auth/verify-email/resend')
          .then(() => { status.textContent = `A new link is on its way to ${me.email}.` })
          .catch((e: unknown) => { status.textContent = (e as Error).message; send.disabled = false })
      }
    }, 'Send the link again')
    box.replaceChildren(h('p', {}, `${me.email} — not confirmed yet: others cannot add you to a project by this address until you open the link we mailed.`), send, status)
  }).catch(() => { /* the rest of the settings still work */ })
  return box
}
