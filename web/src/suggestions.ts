// Suggestions on a document: proposed edits (by a person or by the AI) that editors accept or
// reject; accepting applies the change to the live document on the server, so everyone here
// sees it arrive. Editors may also ask the AI to edit the selection (or the whole document):
// its answer streams in and becomes an open suggestion.
import * as api from './api'
import { h, field, errorBox } from './dom'
import type { Selection } from './comments'

interface Suggestion {
  id: string
  anchor: { start: string, end: string }
  quote: string
  proposed: string
  explanation?: string | null
  created_by: string
  provider?: string | null
  model?: string | null
  status: string
}

export interface SuggestionsContext {
  fileId: string
  canDecide: boolean
  selection: () => Selection
  names: Map<string, string>
  /** Select an anchored range in the editor; false when the document no longer has it. */
  reveal?: (anchor: { start: string, end: string }) => boolean
}

export type SuggestionsPanel = HTMLElement & { reload: () => void }

export const loadOpenSuggestions = (fileId: string) => api.all<Suggestion>(`/files/${fileId}/suggestions?status=open`)

export function suggestionsPanel (ctx: SuggestionsContext): SuggestionsPanel {
  const { fileId, canDecide, names } = ctx
  const list = h('ul', { class: 'suggestions' })
  const err = errorBox()
  const fail = (e: unknown) => err.show((e as Error).message)
  const who = (s: Suggestion) => s.model ? `AI (${s.model}) for ${names.get(s.created_by) ?? 'someone'}` : (names.get(s.created_by) ?? 'someone')
  const decide = (s: Suggestion, what: 'accept' | 'reject') =>
    api.api('POST', `/suggestions/${s.id}/${what}`).then(() => { err.show(null); return load() }).catch((e: unknown) => { fail(e); void load() })
  const load = () => loadOpenSuggestions(fileId).then((items) => {
    list.replaceChildren(...items.map((s) => h('li', { class: 'suggestion', id: `suggestion-${s.id}`, 'aria-label': `Suggestion by ${who(s)}` },
      h('p', {}, h('strong', {}, who(s)), s.explanation ? `: ${s.explanation}` : ''),
      h('p', { class: 'change' }, h('del', { 'aria-label': 'Replaces' }, s.quote || '(nothing)'), ' → ', h('ins', { 'aria-label': 'With' }, s.proposed || '(nothing)')),
      ctx.reveal ? h('button', { type: 'button', class: 'link', onclick: () => { if (!ctx.reveal?.(s.anchor)) err.show('The text of this suggestion is no longer in the document.') } }, 'Show in text') : null,
      canDecide ? h('button', { type: 'button', onclick: () => { void decide(s, 'accept') } }, 'Accept') : null,
      canDecide ? h('button', { type: 'button', onclick: () => { void decide(s, 'reject') } }, 'Reject') : null)))
    if (!items.length) list.replaceChildren(h('li', {}, 'No open suggestions.'))
  }).catch(fail)

  // A change proposed by hand, for the selected text.
  const proposed = h('textarea', { rows: '3' }) as unknown as HTMLInputElement
  const why = h('input', { type: 'text', maxlength: '1000' })
  const propose = h('form', { class: 'stack', 'aria-label': 'Propose a change' }, field('Replace the selection with', proposed), field('Why (optional)', why), h('button', { type: 'submit' }, 'Propose'))
  propose.addEventListener('submit', (e) => {
    e.preventDefault()
    const sel = ctx.selection()
    if (!sel.anchor) { err.show('Select the text to change in the editor first.'); return }
    api.api('POST', `/files/${fileId}/suggestions`, { anchor: sel.anchor, proposed: proposed.value, explanation: why.value || null })
      .then(() => { proposed.value = ''; why.value = ''; err.show(null); return load() })
      .catch(fail)
  })

  // Ask the AI: its text streams into `draft`, then it is a suggestion in the list.
  const instruction = h('input', { type: 'text', required: true, maxlength: '4000' })
  const draft = h('pre', { class: 'draft', 'aria-live': 'polite', hidden: true })
  const stop = h('button', { type: 'button', hidden: true }, 'Stop')
  const ask = h('form', { class: 'stack', 'aria-label': 'Ask AI to edit' }, field('Ask AI to edit the selection (or the whole document)', instruction), h('button', { type: 'submit' }, 'Suggest with AI'), stop, draft)
  let running: AbortController | null = null
  let editId: string | null = null
  stop.addEventListener('click', () => {
    if (editId) void api.api('POST', `/files/${fileId}/ai/edits/${editId}/cancel`).catch(fail)
    running?.abort()
  })
  ask.addEventListener('submit', (e) => {
    e.preventDefault()
    if (running) return
    const sel = ctx.selection()
    const body = { instruction: instruction.value, anchor: sel.anchor && sel.quote ? sel.anchor : null }
    running = new AbortController()
    editId = null
    draft.hidden = false
    draft.textContent = ''
    stop.hidden = false
    api.stream(`/files/${fileId}/ai/edit`, body, (event, data) => {
      const d = data as Record<string, unknown> | null
      if (event === 'edit') editId = String(d?.ai_edit_id ?? '')
      else if (event === 'delta') draft.append(String(d?.text ?? ''))
      else if (event === 'error') err.show(String(d?.title ?? 'The AI edit failed'))
    }, running.signal)
      .then(() => { instruction.value = ''; draft.hidden = true; return load() })
      .catch((e: unknown) => { if ((e as Error).name !== 'AbortError') fail(e) })
      .finally(() => { running = null; stop.hidden = true })
  })

  void load()
  const section = h('section', { class: 'card', 'aria-label': 'Suggestions' }, h('h2', {}, 'Suggestions'),
    canDecide ? h('p', { class: 'hint' }, 'Select text in the editor, then propose a change or ask the AI. Accepting applies it for everyone.') : null,
    canDecide ? propose : null, canDecide ? ask : null, list, err) as SuggestionsPanel
  section.reload = () => { void load() }
  return section
}
