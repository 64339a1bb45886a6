// Comments on a document: threads anchored to the text with Yjs relative positions (what the
// API stores), replies, resolve/reopen. Commenters and above may comment.
import * as Y from 'yjs'
import * as api from './api'
import { h, field, errorBox } from './dom'

interface Comment { id: string, body: string, quote?: string | null, author: string, created_at: string, resolved_at?: string | null }
interface Thread extends Comment { replies: Comment[] }

/** What the editor offers the panel: the selection as an anchor and its text. */
export interface Selection { anchor: { start: string, end: string } | null, quote: string | null }

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))

export function anchorOf (ytext: Y.Text, from: number, to: number): { start: string, end: string } {
  return {
    start: b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, from))),
    end: b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, to)))
  }
}

export function commentsPanel (fileId: string, canComment: boolean, selection: () => Selection, names: Map<string, string>): HTMLElement {
  const list = h('ul', { class: 'threads' })
  const err = errorBox()
  const who = (id: string) => names.get(id) ?? 'someone'
  const body = h('textarea', { required: true, rows: '3' }) as unknown as HTMLInputElement
  const form = h('form', { class: 'stack', 'aria-label': 'New comment' }, field('Comment', body), h('button', { type: 'submit' }, 'Add comment'))
  const load = () => api.all<Thread>(`/files/${fileId}/comments`).then((threads) => {
    list.replaceChildren(...threads.map((t) => {
      const reply = h('input', { type: 'text', required: true })
      const replyForm = h('form', { class: 'inline', 'aria-label': `Reply to ${who(t.author)}` }, field('Reply', reply), h('button', { type: 'submit' }, 'Send reply'))
      replyForm.addEventListener('submit', (e) => {
        e.preventDefault()
        api.api('POST', `/comments/${t.id}/replies`, { body: reply.value }).then(load).catch((e: unknown) => err.show((e as Error).message))
      })
      const resolved = Boolean(t.resolved_at)
      return h('li', { class: resolved ? 'thread resolved' : 'thread' },
        t.quote ? h('blockquote', {}, t.quote) : null,
        h('p', {}, h('strong', {}, who(t.author)), ': ', t.body, resolved ? h('span', { class: 'role' }, ' (resolved)') : null),
        h('ul', {}, ...t.replies.map((r) => h('li', {}, h('strong', {}, who(r.author)), ': ', r.body))),
        canComment ? replyForm : null,
        canComment
          ? h('button', { type: 'button', onclick: () => { void api.api('PATCH', `/comments/${t.id}`, { resolved: !resolved }).then(load).catch((e: unknown) => err.show((e as Error).message)) } }, resolved ? 'Reopen' : 'Resolve')
          : null)
    }))
    if (!threads.length) list.replaceChildren(h('li', {}, 'No comments yet.'))
  }).catch((e: unknown) => err.show((e as Error).message))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const sel = selection()
    api.api('POST', `/files/${fileId}/comments`, { body: body.value, anchor: sel.anchor, quote: sel.quote })
      .then(() => { body.value = ''; return load() })
      .catch((e: unknown) => err.show((e as Error).message))
  })
  void load()
  return h('section', { class: 'card', 'aria-label': 'Comments' }, h('h2', {}, 'Comments'),
    canComment ? h('p', { class: 'hint' }, 'Select text in the editor, then write your comment.') : null,
    canComment ? form : null, list, err)
}
