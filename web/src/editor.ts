// One document open for editing: a Y.Doc kept in IndexedDB (edits made offline survive a
// reload) and synced over y-websocket; CodeMirror 6 bound to it with y-codemirror.next (remote
// cursors in each person's colour and name); the preview beside it.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { yCollab } from 'y-codemirror.next'
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine } from '@codemirror/view'
import { EditorState } from '@codemirror/state'
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands'
import { markdown } from '@codemirror/lang-markdown'
import { syntaxHighlighting, defaultHighlightStyle } from '@codemirror/language'
import { h } from './dom'
import { render } from './preview'
import { TicketSocket } from './ticket-socket'
import { anchorOf, type Selection } from './comments'
import { absolute, commentHighlights, showThreads, revealThread, type Anchored } from './highlights'
import { uploadAttachment, type Role, type User } from './api'

const COLOURS = ['#b4233c', '#1d6b3a', '#1f4fa8', '#8a3fa0', '#9a5b00', '#00707a', '#5b5b5b', '#a8326e']

function colourOf (id: string): string {
  let n = 0
  for (const c of id) n = (n * 31 + c.charCodeAt(0)) >>> 0
  return COLOURS[n % COLOURS.length]
}

export interface OpenDoc {
  element: HTMLElement
  destroy: () => void
  selection: () => Selection
  /** The document's comment threads: the open ones are highlighted in the text. */
  setThreads: (threads: Anchored[]) => void
  /** Select an open thread's range in the text; false when it has none. */
  reveal: (threadId: string) => boolean
  /** Select an anchored range (a suggestion's); false when the text no longer has it. */
  revealAnchor: (anchor: { start: string, end: string }) => boolean
  /** Tell the others here that the comments changed (through the awareness state). */
  announceComments: () => void
}

export interface DocOptions {
  /** Opened from a search hit: the words to select. */
  find?: string | null
  /** A click on a comment highlight. */
  openThread?: (threadId: string) => void
  /** Someone else here changed the comments. */
  commentsChanged?: () => void
}

export function openDocument (projectId: string, fileId: string, user: User, role: Role, toolbar: HTMLElement[], options: DocOptions = {}): OpenDoc {
  const find = options.find ?? null
  const doc = new Y.Doc()
  const ytext = doc.getText('content')
  const local = new IndexeddbPersistence(`mdz-doc-${fileId}`, doc)
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const provider = new WebsocketProvider(`${scheme}://${location.host}/api/v1/collab`, fileId, doc, {
    WebSocketPolyfill: TicketSocket as unknown as typeof WebSocket,
    maxBackoffTime: 2500,
    disableBc: true
  })
  const colour = colourOf(user.id)
  provider.awareness.setLocalStateField('user', { name: user.display_name, color: colour, colorLight: colour + '33', id: user.id })

  const readOnly = role === 'viewer' || role === 'commenter'
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'Connecting…')
  const people = h('ul', { class: 'people', 'aria-label': 'People here' })
  // Focusable, so a keyboard can scroll it.
  const preview = h('section', { class: 'preview', 'aria-label': 'Preview', tabindex: '0' })
  const host = h('div', { class: 'editor' })

  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        lineNumbers(), history(), drawSelection(), highlightActiveLine(),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        markdown(), syntaxHighlighting(defaultHighlightStyle),
        EditorView.lineWrapping,
        // The page's CSP admits CodeMirror's injected <style> elements by this nonce.
        EditorView.cspNonce.of(document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? ''),
        // Names on the remote carets stay visible (white on the person's colour, all ≥ 4.5:1).
        EditorView.theme({ '.cm-ySelectionInfo': { opacity: 1, backgroundColor: 'inherit' } }),
        // Read-only, not non-editable: viewers and commenters can still focus, move and select
        // (commenters comment on a selection), but no change is accepted.
        EditorState.readOnly.of(readOnly),
        EditorView.contentAttributes.of({ 'aria-label': 'Editor', ...(readOnly ? { 'aria-readonly': 'true' } : {}) }),
        yCollab(ytext, provider.awareness),
        commentHighlights((id) => options.openThread?.(id)),
        readOnly ? [] : EditorView.domEventHandlers({
          paste: (e, view) => attach(e.clipboardData?.files, view),
          drop: (e, view) => attach(e.dataTransfer?.files, view)
        })
      ]
    })
  })

  // A pasted or dropped image: uploaded as an attachment, then linked where the cursor is.
  function attach (files: FileList | undefined, target: EditorView): boolean {
    const images = [...(files ?? [])].filter((f) => f.type.startsWith('image/'))
    if (!images.length) return false
    for (const file of images) {
      uploadAttachment(projectId, file).then((id) => {
        const at = target.state.selection.main.head
        const name = (file.name || 'image').replace(/[[\]]/g, '')
        target.dispatch({ changes: { from: at, insert: `![${name}](/api/v1/attachments/${id})\n` } })
      }).catch((e: unknown) => { status.textContent = `Upload failed: ${(e as Error).message}` })
    }
    return true
  }

  let frame = 0
  const refreshPreview = () => {
    if (frame) return
    frame = requestAnimationFrame(() => { frame = 0; render(ytext.toString(), preview) })
  }
  ytext.observe(refreshPreview)
  refreshPreview()

  // A close the server means (4401: signed out, 4403/4404: no access) stops the reconnects.
  let refused: number | null = null
  provider.on('connection-close', (e: CloseEvent | null) => {
    if (e && e.code >= 4400 && e.code < 4500) refused = e.code
    showStatus()
  })
  provider.on('status', (e: { status: string }) => { if (e.status === 'connected') refused = null })
  const showStatus = () => {
    let text: string
    if (refused === 4401) text = 'Signed out — sign in again to keep editing'
    else if (refused !== null) text = 'No access to this document any more'
    else if (!navigator.onLine) text = 'Offline — changes kept on this device'
    else if (provider.wsconnected && provider.synced) text = 'Connected'
    else if (provider.wsconnected || provider.wsconnecting) text = 'Reconnecting'
    else text = 'Reconnecting'
    if (!everSynced && navigator.onLine && text !== 'Connected') text = 'Connecting…'
    status.textContent = text
    host.dataset.synced = String(provider.synced)
  }
  let everSynced = false
  let threads: Anchored[] = []
  provider.on('status', showStatus)
  provider.on('sync', (s: boolean) => {
    if (s && !everSynced && find) revealHit(find)
    // The anchors name Yjs items: they resolve once the document has them.
    if (s) showThreads(view, doc, ytext, threads)
    if (s) everSynced = true
    showStatus()
  })
  // Opened from a search hit: select the first place one of the searched words occurs.
  function revealHit (query: string): void {
    const text = view.state.doc.toString().toLowerCase()
    const words = query.toLowerCase().split(/[^\p{L}\p{N}_-]+/u).filter((w) => w.length > 1)
    const at = words.map((w) => ({ w, i: text.indexOf(w) })).filter((x) => x.i >= 0).sort((a, b) => a.i - b.i)[0]
    if (!at) return
    view.dispatch({ selection: { anchor: at.i, head: at.i + at.w.length }, scrollIntoView: true })
    view.focus()
  }
  window.addEventListener('online', showStatus)
  window.addEventListener('offline', showStatus)
  local.on('synced', () => {
    host.dataset.local = 'true'
    showThreads(view, doc, ytext, threads)
  })

  const showPeople = () => {
    const items: HTMLElement[] = []
    provider.awareness.getStates().forEach((state, client) => {
      const u = state.user as { name?: string, color?: string } | undefined
      if (!u?.name) return
      const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' })
      swatch.style.backgroundColor = u.color ?? '#555'
      items.push(h('li', {}, swatch, u.name + (client === doc.clientID ? ' (you)' : '')))
    })
    people.replaceChildren(...items)
  }
  provider.awareness.on('change', showPeople)
  // Comments live in the REST API; who changes them says so in their awareness state, and the
  // others here reload them.
  const commentMarks = new Map<number, unknown>()
  provider.awareness.on('change', ({ added, updated }: { added: number[], updated: number[] }) => {
    let changed = false
    for (const client of [...added, ...updated]) {
      if (client === doc.clientID) continue
      const mark = (provider.awareness.getStates().get(client) as { comments?: unknown } | undefined)?.comments
      if (mark === undefined || commentMarks.get(client) === mark) continue
      commentMarks.set(client, mark)
      changed = true
    }
    if (changed) options.commentsChanged?.()
  })
  showPeople()

  const element = h('div', { class: 'doc' },
    h('div', { class: 'doc-bar' }, status, people, ...toolbar),
    h('div', { class: 'split' }, host, preview))
  return {
    element,
    selection () {
      const { from, to } = view.state.selection.main
      if (from === to) return { anchor: null, quote: null }
      return { anchor: anchorOf(ytext, from, to), quote: view.state.sliceDoc(from, to).slice(0, 500) }
    },
    reveal: (threadId) => revealThread(view, threadId),
    revealAnchor (anchor) {
      const from = absolute(doc, ytext, anchor.start)
      const to = absolute(doc, ytext, anchor.end)
      if (from === null || to === null || from === to) return false
      const length = view.state.doc.length
      view.dispatch({ selection: { anchor: Math.min(from, to, length), head: Math.min(Math.max(from, to), length) }, scrollIntoView: true })
      view.focus()
      return true
    },
    announceComments: () => provider.awareness.setLocalStateField('comments', Date.now()),
    setThreads (next) {
      threads = next
      showThreads(view, doc, ytext, threads)
    },
    destroy () {
      window.removeEventListener('online', showStatus)
      window.removeEventListener('offline', showStatus)
      view.destroy()
      provider.destroy()
      void local.destroy()
      doc.destroy()
    }
  }
}
