// Side panels: members, history (diff, restore). The AI chat is in chat.ts.
import * as api from './api'
import { h, field, errorBox } from './dom'

interface Member { user_id: string, email: string, display_name: string, role: api.Role }
interface Version { n: number, author: string, created_at: string, label?: string | null, lines_added: number, lines_removed: number }

export function membersPanel (projectId: string, me: { id: string, role: api.Role }): HTMLElement {
  const canManage = me.role === 'owner' || me.role === 'admin'
  const list = h('ul', { class: 'members' })
  const err = errorBox()
  // Others' access can be changed or removed by admins (owners: by the owner only).
  const controls = (m: Member) => {
    if (!canManage || m.user_id === me.id || (m.role === 'owner' && me.role !== 'owner')) return null
    const access = h('select', { 'aria-label': `Access of ${m.display_name}` },
      ...api.ROLES.map((r) => h('option', { value: r, selected: r === m.role }, r)))
    access.addEventListener('change', () => {
      api.api('PATCH', `/projects/${projectId}/members/${m.user_id}`, { role: access.value })
        .then(refresh).catch((e: unknown) => { err.show((e as Error).message); void refresh() })
    })
    const remove = h('button', {
      type: 'button',
      onclick: () => { void api.api('DELETE', `/projects/${projectId}/members/${m.user_id}`).then(refresh).catch((e: unknown) => err.show((e as Error).message)) }
    }, `Remove ${m.display_name}`)
    return [' ', access, ' ', remove]
  }
  const refresh = (): Promise<void> => api.all<Member>(`/projects/${projectId}/members`).then((ms) => {
    list.replaceChildren(...ms.map((m) => h('li', {}, `${m.display_name} <${m.email}> — ${m.role}`, controls(m))))
  }).catch((e: unknown) => err.show((e as Error).message))
  const email = h('input', { type: 'email', required: true })
  const role = h('select', {}, ...api.ROLES.map((r) => h('option', { value: r, selected: r === 'editor' }, r)))
  const form = h('form', { class: 'inline', 'aria-label': 'Add member' }, field('Email', email), field('Role', role), h('button', { type: 'submit' }, 'Add'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    api.api('POST', `/projects/${projectId}/members`, { email: email.value, role: role.value })
      .then(() => { email.value = ''; err.show(null); return refresh() })
      .catch((e: unknown) => err.show((e as Error).message))
  })
  void refresh()
  return h('section', { class: 'card', 'aria-label': 'Members' }, h('h2', {}, 'Members'), list, canManage ? form : null,
    canManage ? invitations(projectId, err) : null, err)
}

/** Invitation links: for someone without an account yet, or anyone holding the link. */
function invitations (projectId: string, err: ReturnType<typeof errorBox>): HTMLElement {
  const list = h('ul', { class: 'invitations' })
  const created = h('div', { 'aria-live': 'polite' })
  const email = h('input', { type: 'email' })
  const role = h('select', {}, ...api.ROLES.filter((r) => r !== 'owner').map((r) => h('option', { value: r, selected: r === 'editor' }, r)))
  const form = h('form', { class: 'inline', 'aria-label': 'Invite' }, field('Invitee address (optional)', email), field('Invited as', role), h('button', { type: 'submit' }, 'Create invitation link'))
  const load = () => api.all<{ id: string, email?: string | null, role: string, expires_at: string }>(`/projects/${projectId}/invitations`).then((items) => {
    list.replaceChildren(...items.map((i) => h('li', {}, `${i.email ?? 'anyone with the link'} as ${i.role}, until ${new Date(i.expires_at).toLocaleDateString()} `,
      h('button', { type: 'button', onclick: () => { void api.api('DELETE', `/projects/${projectId}/invitations/${i.id}`).then(load).catch((e: unknown) => err.show((e as Error).message)) } }, 'Revoke'))))
  }).catch((e: unknown) => err.show((e as Error).message))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    api.api<{ token: string }>('POST', `/projects/${projectId}/invitations`, { email: email.value || null, role: role.value })
      .then((inv) => {
        const link = `${location.origin}/invite/${inv.token}`
        created.replaceChildren(h('p', {}, 'Send this link (shown once):'), h('input', { type: 'text', readonly: true, value: link, 'aria-label': 'Invitation link' }))
        email.value = ''
        return load()
      })
      .catch((e: unknown) => err.show((e as Error).message))
  })
  void load()
  return h('section', { 'aria-label': 'Invitations' }, h('h3', {}, 'Invitations'), form, created, list)
}

export function historyPanel (fileId: string, canRestore: boolean, names: Map<string, string>): HTMLElement {
  const list = h('ol', { class: 'versions' })
  const diff = h('pre', { class: 'diff', tabindex: '0' })
  const diffRegion = h('section', { 'aria-label': 'Diff' }, diff)
  const err = errorBox()
  const done = h('p', { role: 'status' })
  api.all<Version>(`/files/${fileId}/versions`).then((vs) => {
    list.replaceChildren(...vs.map((v) => h('li', {},
      h('span', {}, `v${v.n} · ${names.get(v.author) ?? 'someone'} · ${new Date(v.created_at).toLocaleString()} · +${v.lines_added} −${v.lines_removed}${v.label ? ` · ${v.label}` : ''}`),
      v.n > 1 ? h('button', { type: 'button', onclick: () => showDiff(v.n) }, 'Diff') : null,
      canRestore ? h('button', { type: 'button', onclick: () => restore(v.n) }, 'Restore') : null,
      canRestore ? labelForm(v.n, v.label ?? '') : null)))
  }).catch((e: unknown) => err.show((e as Error).message))
  const showDiff = (n: number) => {
    api.api<{ unified: string }>('GET', `/files/${fileId}/versions/${n}?diff=${n - 1}`)
      .then((d) => {
        diff.replaceChildren(...d.unified.split('\n').map((line) =>
          h('span', { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '' }, line + '\n')))
      })
      .catch((e: unknown) => err.show((e as Error).message))
  }
  const labelForm = (n: number, current: string) => {
    const input = h('input', { type: 'text', maxlength: '100', value: current, 'aria-label': `Label of v${n}` })
    const form = h('form', { class: 'inline label' }, input, h('button', { type: 'submit', 'aria-label': `Save label of v${n}` }, 'Label'))
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      api.api('PATCH', `/files/${fileId}/versions/${n}`, { label: input.value.trim() || null })
        .then(() => { done.textContent = `Labelled version ${n}.` })
        .catch((e: unknown) => err.show((e as Error).message))
    })
    return form
  }
  const restore = (n: number) => {
    api.api('POST', `/files/${fileId}/versions/${n}/restore`)
      .then(() => { done.textContent = `Restored version ${n}.` })
      .catch((e: unknown) => err.show((e as Error).message))
  }
  return h('section', { class: 'card', 'aria-label': 'History' }, h('h2', {}, 'History'), list, diffRegion, done, err)
}
