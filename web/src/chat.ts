// The AI chat of a project: earlier conversations (the sessions API), one open at a time with
// its messages; streamed answers with citations that open the cited document, cancel,
// regenerate, the provider to ask; "New conversation" starts over.
import * as api from './api'
import { h, field, errorBox } from './dom'

interface Citation { file_id: string, path: string }
interface Message { id: string, role: string, content: string, status: string, citations: Citation[] }
interface Session { id: string, title: string, provider?: string | null, last_activity_at: string }

/** `canAsk`: editors and above (the API refuses questions and new chats from the others,
 * who may still read the earlier chats). */
export function aiPanel (projectId: string, canAsk: boolean): HTMLElement {
  const conversation = h('section', { class: 'conversation', 'aria-label': 'Conversation', 'aria-live': 'polite' })
  const message = h('input', { type: 'text', required: true })
  const send = h('button', { type: 'submit' }, 'Send')
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel')
  const providerSelect = h('select', {})
  const providerField = field('Provider', providerSelect)
  providerField.hidden = true
  const form = h('form', { class: 'inline', 'aria-label': 'Ask AI' }, providerField, field('Message', message), send, cancel)
  const err = errorBox()
  const earlier = h('ul', { class: 'chats', 'aria-label': 'Earlier chats' })
  let sessionId: string | null = null
  let sessionProvider: string | null = null
  let noProvider = false

  if (!canAsk) {
    send.disabled = true
    message.disabled = true
  }
  api.api<api.Page<{ name: string, default: boolean }>>('GET', '/chat/providers').then((p) => {
    if (!p.items.length) {
      noProvider = true
      conversation.replaceChildren(h('p', {}, 'No AI provider is configured on this server, so there is nobody to ask.'))
      send.disabled = true
      message.disabled = true
      return
    }
    providerSelect.replaceChildren(...p.items.map((x) => h('option', { value: x.name, selected: x.default }, x.name)))
    providerField.hidden = p.items.length < 2
  }).catch((e: unknown) => err.show((e as Error).message))

  const citations = (cs: Citation[]) => h('ul', { class: 'citations', 'aria-label': 'Sources' },
    ...cs.map((c) => h('li', {}, h('a', { href: `/p/${projectId}/f/${c.file_id}` }, c.path))))

  // One answer, streamed into the conversation: deltas, citations, errors; Cancel stops it,
  // Regenerate asks the same question again.
  const streamAnswer = (path: string, body: unknown): Promise<void> => {
    const answer = h('p', { class: 'a' })
    const cites = citations([])
    const after = h('div', { class: 'after' })
    conversation.querySelectorAll('.after').forEach((a) => a.replaceChildren())
    conversation.append(answer, cites, after)
    const abort = new AbortController()
    let messageId: string | null = null
    send.disabled = true
    cancel.hidden = false
    cancel.onclick = () => {
      if (sessionId && messageId) void api.api('POST', `/sessions/${sessionId}/messages/${messageId}/cancel`).catch(() => {})
      abort.abort()
    }
    return api.stream(path, body, (event, data) => {
      const d = data as Record<string, unknown> | null
      if (event === 'message') messageId = String(d?.assistant_message_id ?? '')
      else if (event === 'delta') answer.append(String(d?.text ?? ''))
      else if (event === 'citation') cites.append(...citations([d as unknown as Citation]).children)
      else if (event === 'error') err.show(String(d?.title ?? 'The answer failed'))
    }, abort.signal)
      .catch((e: unknown) => { if (!abort.signal.aborted) err.show((e as Error).message) })
      .finally(() => {
        send.disabled = false
        cancel.hidden = true
        if (messageId && sessionId) regenerate(after, messageId)
        void listSessions()
      })
  }
  const regenerate = (after: HTMLElement, messageId: string) => {
    const again = `/sessions/${sessionId}/messages/${messageId}/regenerate`
    after.replaceChildren(h('button', { type: 'button', onclick: () => { after.replaceChildren(); void streamAnswer(again, {}) } }, 'Regenerate'))
  }

  // An earlier conversation: its messages (answers with their sources), then it goes on.
  const openSession = (s: Session) => {
    err.show(null)
    sessionId = s.id
    if (s.provider && [...providerSelect.options].some((o) => o.value === s.provider)) providerSelect.value = s.provider
    // It goes on with this provider unless another one is picked.
    sessionProvider = providerSelect.value || null
    markCurrent()
    api.all<Message>(`/sessions/${s.id}/messages`).then((ms) => {
      if (sessionId !== s.id) return
      const nodes: HTMLElement[] = []
      let last: { after: HTMLElement, id: string } | null = null
      for (const m of ms) {
        if (m.role === 'user') {
          nodes.push(h('p', { class: 'q' }, m.content))
          continue
        }
        const after = h('div', { class: 'after' })
        nodes.push(h('p', { class: 'a' }, m.content, m.status === 'complete' ? null : h('span', { class: 'role' }, ` (${m.status})`)), citations(m.citations), after)
        last = { after, id: m.id }
      }
      conversation.replaceChildren(...nodes)
      if (last && !noProvider && canAsk) regenerate(last.after, last.id)
      message.focus()
    }).catch((e: unknown) => err.show((e as Error).message))
  }
  const markCurrent = () => {
    for (const b of earlier.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.session === sessionId))
  }
  const listSessions = () => api.api<api.Page<Session>>('GET', `/projects/${projectId}/sessions?limit=20`).then((page) => {
    earlier.replaceChildren(...page.items.map((s) => h('li', {},
      h('button', { type: 'button', class: 'link', 'data-session': s.id, 'aria-pressed': String(s.id === sessionId), onclick: () => openSession(s) }, s.title || 'Untitled'),
      h('span', { class: 'role' }, ` ${new Date(s.last_activity_at).toLocaleString()}`))))
    if (!page.items.length) earlier.replaceChildren(h('li', {}, 'No earlier chats.'))
  }).catch((e: unknown) => err.show((e as Error).message))
  const startOver = () => {
    sessionId = null
    sessionProvider = null
    err.show(null)
    if (!noProvider) conversation.replaceChildren()
    markCurrent()
    message.focus()
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const text = message.value
    message.value = ''
    err.show(null)
    conversation.append(h('p', { class: 'q' }, text))
    void (async () => {
      const provider = providerSelect.value || null
      if (!sessionId || sessionProvider !== provider) {
        sessionId = (await api.api<{ id: string }>('POST', `/projects/${projectId}/sessions`, provider ? { provider } : {})).id
        sessionProvider = provider
      }
      await streamAnswer(`/sessions/${sessionId}/messages`, { content: text, use_search: true })
    })().catch((e: unknown) => err.show((e as Error).message))
  })
  void listSessions()
  return h('section', { class: 'card', 'aria-label': 'Ask AI' }, h('h2', {}, 'Ask AI'),
    canAsk
      ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: startOver }, 'New conversation'))
      : h('p', { class: 'hint' }, 'Asking the AI needs the editor role: you can read the earlier chats.'),
    conversation, form, err,
    h('h3', {}, 'Earlier chats'), earlier)
}
