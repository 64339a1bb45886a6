// Settings: personal access tokens (for VS Code, the CLI, MCP clients) and signed-in devices.
import * as api from './api'
import { h, field, errorBox } from './dom'
import { verificationStatus } from './account'

interface Token { id: string, name: string, prefix: string, scope: string, created_at: string, last_used_at?: string | null }
interface Session { id: string, created_at: string, last_used_at: string, user_agent?: string | null, ip?: string | null, current: boolean }

export function settingsView (main: HTMLElement): void {
  const err = errorBox()
  const tokens = h('ul', { class: 'tokens' })
  const sessions = h('ul', { class: 'sessions' })
  const created = h('div', { class: 'created', 'aria-live': 'polite' })
  const name = h('input', { type: 'text', required: true, maxlength: '100' })
  const scope = h('select', {}, ...[['read', 'read'], ['suggest', 'suggest (its edits become suggestions)'], ['write', 'write'], ['admin', 'admin']].map(([v, label]) => h('option', { value: v, selected: v === 'write' }, label)))
  const form = h('form', { class: 'inline', 'aria-label': 'New token' }, field('Token name', name), field('Scope', scope), h('button', { type: 'submit' }, 'Create token'))

  const loadTokens = () => api.all<Token>('/auth/tokens').then((ts) => {
    tokens.replaceChildren(...ts.map((t) => h('li', {},
      `${t.name} (${t.prefix}…, ${t.scope}) — last used ${t.last_used_at ? new Date(t.last_used_at).toLocaleString() : 'never'} `,
      h('button', { type: 'button', 'aria-label': `Revoke ${t.name}`, onclick: () => { void api.api('DELETE', `/auth/tokens/${t.id}`).then(loadTokens).catch((e: unknown) => err.show((e as Error).message)) } }, 'Revoke'))))
    if (!ts.length) tokens.replaceChildren(h('li', {}, 'No tokens.'))
  }).catch((e: unknown) => err.show((e as Error).message))
  const loadSessions = () => api.all<Session>('/auth/sessions').then((ss) => {
    sessions.replaceChildren(...ss.map((s) => h('li', {},
      `${s.user_agent ?? 'Unknown device'}${s.ip ? ` (${s.ip})` : ''} — last active ${new Date(s.last_used_at).toLocaleString()}${s.current ? ' — this device' : ''} `,
      s.current ? null : h('button', { type: 'button', onclick: () => { void api.api('DELETE', `/auth/sessions/${s.id}`).then(loadSessions).catch((e: unknown) => err.show((e as Error).message)) } }, 'Sign out'))))
  }).catch((e: unknown) => err.show((e as Error).message))

  form.addEventListener('submit', (e) => {
    e.preventDefault()
    api.api<{ token: string, name: string }>('POST', '/auth/tokens', { name: name.value, scope: scope.value })
      .then((t) => {
        name.value = ''
        const value = h('input', { type: 'text', readonly: true, value: t.token, 'aria-label': 'New token value' })
        created.replaceChildren(h('p', {}, `Copy the token “${t.name}” now: it is shown only once.`), value,
          h('button', { type: 'button', onclick: () => { void navigator.clipboard?.writeText(t.token) } }, 'Copy'))
        return loadTokens()
      })
      .catch((e: unknown) => err.show((e as Error).message))
  })
  const mentionMails = h('input', { type: 'checkbox', id: 'mention-mails' })
  void api.api<{ mention_mails: boolean }>('GET', '/auth/me').then((me) => { mentionMails.checked = me.mention_mails }).catch((e: unknown) => err.show((e as Error).message))
  mentionMails.addEventListener('change', () => {
    void api.api<{ mention_mails: boolean }>('PATCH', '/auth/me', { mention_mails: mentionMails.checked })
      .then((me) => { mentionMails.checked = me.mention_mails })
      .catch((e: unknown) => { mentionMails.checked = !mentionMails.checked; err.show((e as Error).message) })
  })
  void loadTokens()
  void loadSessions()
  main.replaceChildren(h('h1', {}, 'Settings'), err,
    h('section', { 'aria-label': 'Account' }, h('h2', {}, 'E-mail address'), verificationStatus(),
      h('p', {}, mentionMails, ' ', h('label', { for: 'mention-mails' }, 'Mail me when someone @mentions me (at most one mail every few minutes, only for mentions I have not read here)'))),
    h('section', { 'aria-label': 'Personal access tokens' }, h('h2', {}, 'Personal access tokens'),
      h('p', {}, 'For VS Code, the command line and MCP clients: use a token as a Bearer token.'), form, created, tokens),
    h('section', { 'aria-label': 'Signed-in devices' }, h('h2', {}, 'Signed-in devices'), sessions))
}
