// Comments on a document: threads anchored to the text with Yjs relative positions (what the
// API stores), replies, resolve/reopen. Commenters and above may comment.
import * as Y from 'yjs'
import * as api from './api'
import { h, field, errorBox } from './dom'
import { mentions, type Mentionable } from './mention'

interface Comment { anchor?: { start: string, end: string } | null, id: string, body: string, quote?: string | null, author: string, created_at: string, resolved_at?: string | null }
export interface Thread extends Comment { replies: Comment[] }

/** What the editor offers the panel: the selection as an anchor and its text. */
export interface Selection { anchor: { start: string, end: string } | null, quote: string | null }

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))

export function anchorOf (ytext: Y.Text, from: number, to: number): { start: string, end: string } {
  return {
    start: b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, from))),
    end: b64(Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, to)))
  }
}

export interface CommentsContext {
  fileId: string
  canComment: boolean
  /** The editor's selection, for a new thread's anchor. */
  selection: () => Selection
  names: Map<string, string>
  /** The project's members, offered after `@`. */
  members: () => Mentionable[]
  /** The thread to show first (a highlight was clicked). */
  focus?: string | null
  /** Every load of the threads (the editor highlights the open ones). */
  onThreads?: (threads: Thread[]) => void
  /** Select a thread's range in the editor. */
  reveal?: (threadId: string) => boolean
  /** This person changed the comments (the others here are told). */
  changed?: () => void
}

export type CommentsPanel = HTMLElement & { reload: () => void }

export const loadThreads = (fileId: string) => api.all<Thread>(`/files/${fileId}/comments`)

export function commentsPanel (ctx: CommentsContext): CommentsPanel {
  const { fileId, canComment, selection, names } = ctx
  const list = h('ul', { class: 'threads' })
  const err = errorBox()
  const who = (id: string) => names.get(id) ?? 'someone'
  const body = h('textarea', { required: true, rows: '3' }) as unknown as HTMLInputElement
  const form = h('form', { class: 'stack', 'aria-label': 'New comment' }, field('Comment', body), mentions(body, ctx.members), h('button', { type: 'submit' }, 'Add comment'))
  const fail = (e: unknown) => err.show((e as Error).message)
  let focus = ctx.focus ?? null
  // Opened from a highlight: the keyboard focus goes to that thread, once.
  let moveFocus = Boolean(focus)
  const load = () => loadThreads(fileId).then((threads) => {
    ctx.onThreads?.(threads)
    list.replaceChildren(...threads.map((t) => {
      const reply = h('input', { type: 'text', required: true })
      const replyForm = h('form', { class: 'inline', 'aria-label': `Reply to ${who(t.author)}` }, field('Reply', reply), mentions(reply, ctx.members), h('button', { type: 'submit' }, 'Send reply'))
      replyForm.addEventListener('submit', (e) => {
        e.preventDefault()
        focus = t.id
        api.api('POST', `/comments/${t.id}/replies`, { body: reply.value }).then(changed).catch(fail)
      })
      const resolved = Boolean(t.resolved_at)
      const item = h('li', { class: resolved ? 'thread resolved' : 'thread', id: `thread-${t.id}`, tabindex: '-1', 'aria-label': `Thread by ${who(t.author)}` },
        t.quote ? h('blockquote', {}, t.quote) : null,
        h('p', {}, h('strong', {}, who(t.author)), ': ', t.body, resolved ? h('span', { class: 'role' }, ' (resolved)') : null),
        t.anchor && !resolved && ctx.reveal
          ? h('button', { type: 'button', class: 'link', onclick: () => { if (!ctx.reveal?.(t.id)) err.show('The commented text is no longer in the document.') } }, 'Show in text')
          : null,
        h('ul', { 'aria-label': 'Replies' }, ...t.replies.map((r) => h('li', {}, h('strong', {}, who(r.author)), ': ', r.body))),
        canComment ? replyForm : null,
        canComment
          ? h('button', { type: 'button', onclick: () => { focus = t.id; void api.api('PATCH', `/comments/${t.id}`, { resolved: !resolved }).then(changed).catch(fail) } }, resolved ? 'Reopen' : 'Resolve')
          : null)
      if (t.id === focus) item.setAttribute('aria-current', 'true')
      return item
    }))
    if (!threads.length) list.replaceChildren(h('li', {}, 'No comments yet.'))
    const current = focus ? list.querySelector<HTMLElement>(`#thread-${CSS.escape(focus)}`) : null
    if (current && moveFocus) {
      moveFocus = false
      current.scrollIntoView({ block: 'nearest' })
      current.focus()
    }
  }).catch(fail)
  const changed = () => {
    ctx.changed?.()
    return load()
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const sel = selection()
    api.api<Comment>('POST', `/files/${fileId}/comments`, { body: body.value, anchor: sel.anchor, quote: sel.quote })
      .then((c) => { body.value = ''; focus = c.id; return changed() })
      .catch(fail)
  })
  void load()
  const section = h('section', { class: 'card', 'aria-label': 'Comments' }, h('h2', {}, 'Comments'),
    canComment ? h('p', { class: 'hint' }, 'Select text in the editor, then write your comment. Type @ to mention someone.') : null,
    canComment ? form : null, list, err) as CommentsPanel
  section.reload = () => { void load() }
  return section
}
