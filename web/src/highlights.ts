// Comment highlights in the editor: each open thread's anchored range (Yjs relative positions,
// as the comments API stores them) as a CodeMirror mark; a click on one opens its thread.
import * as Y from 'yjs'
import { StateEffect, StateField, type Extension } from '@codemirror/state'
import { Decoration, EditorView, type DecorationSet } from '@codemirror/view'

export interface Anchored { id: string, anchor?: { start: string, end: string } | null, resolved_at?: string | null }
interface Range { id: string, from: number, to: number }

const setRanges = StateEffect.define<Range[]>()

const marks = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update (deco, tr) {
    // Typing (anyone's, through y-codemirror) moves the marks with the text.
    let next = deco.map(tr.changes)
    for (const e of tr.effects) {
      if (!e.is(setRanges)) continue
      next = Decoration.set(e.value.map((r) => Decoration.mark({
        class: 'cm-comment',
        attributes: { 'data-thread': r.id, title: 'Commented: click to open the thread' }
      }).range(r.from, r.to)), true)
    }
    return next
  },
  provide: (f) => EditorView.decorations.from(f)
})

/** Where a relative position (base64, as the API stores it) is in the text now. */
export function absolute (doc: Y.Doc, ytext: Y.Text, b64: string): number | null {
  try {
    const rel = Y.decodeRelativePosition(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))
    const abs = Y.createAbsolutePositionFromRelativePosition(rel, doc)
    return abs && abs.type === ytext ? abs.index : null
  } catch { return null }
}

/** The editor's extension: the marks, and clicks on them reported by thread id. */
export function commentHighlights (open: (threadId: string) => void): Extension {
  return [marks, EditorView.domEventHandlers({
    click: (e) => {
      const el = (e.target as Element | null)?.closest?.('.cm-comment[data-thread]')
      const id = el?.getAttribute('data-thread')
      if (!id) return false
      open(id)
      return false
    }
  })]
}

/** Show these threads (the open ones with an anchor the document still has) as marks. */
export function showThreads (view: EditorView, doc: Y.Doc, ytext: Y.Text, threads: Anchored[]): void {
  const length = view.state.doc.length
  const ranges: Range[] = []
  for (const t of threads) {
    if (t.resolved_at || !t.anchor) continue
    const from = absolute(doc, ytext, t.anchor.start)
    const to = absolute(doc, ytext, t.anchor.end)
    if (from === null || to === null) continue
    const a = Math.min(from, to, length)
    const b = Math.min(Math.max(from, to), length)
    if (a < b) ranges.push({ id: t.id, from: a, to: b })
  }
  view.dispatch({ effects: setRanges.of(ranges) })
}

/** Select a thread's highlighted range (keyboard users' way from a thread to its text). */
export function revealThread (view: EditorView, threadId: string): boolean {
  const deco = view.state.field(marks, false)
  let found: { from: number, to: number } | null = null
  deco?.between(0, view.state.doc.length, (from, to, value) => {
    if (value.spec.attributes?.['data-thread'] !== threadId) return
    found = { from, to }
    return false
  })
  if (!found) return false
  const { from, to } = found
  view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true })
  view.focus()
  return true
}
