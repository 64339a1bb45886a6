// Notifications: mentions in comments, newest first; opening one marks it read.
import * as api from './api'
import { h, errorBox } from './dom'

interface Notification { id: string, kind: string, excerpt: string, project_id: string, file_id?: string | null, read_at?: string | null, created_at: string }

export function notificationsView (main: HTMLElement): void {
  const list = h('ul', { class: 'notifications' })
  const err = errorBox()
  const markAll = h('button', {
    type: 'button',
    onclick: () => { void api.api('POST', '/notifications/read', {}).then(load).catch((e: unknown) => err.show((e as Error).message)) }
  }, 'Mark all as read')
  const load = () => api.api<api.Page<Notification>>('GET', '/notifications?limit=50').then((page) => {
    list.replaceChildren(...page.items.map((n) => {
      const href = n.file_id ? `/p/${n.project_id}/f/${n.file_id}` : `/p/${n.project_id}`
      const link = h('a', { href }, n.kind === 'mention' ? 'You were mentioned' : n.kind)
      link.addEventListener('click', () => { void api.api('POST', '/notifications/read', { ids: [n.id] }).catch(() => {}) })
      return h('li', { class: n.read_at ? 'read' : 'unread' }, link, n.read_at ? '' : ' (new)', ': ', n.excerpt,
        h('span', { class: 'role' }, ` — ${new Date(n.created_at).toLocaleString()}`))
    }))
    if (!page.items.length) list.replaceChildren(h('li', {}, 'Nothing new.'))
  }).catch((e: unknown) => err.show((e as Error).message))
  void load()
  main.replaceChildren(h('h1', {}, 'Notifications'), markAll, err, list)
}
