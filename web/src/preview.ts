// Markdown → HTML with markdown-it (GFM tables, strikethrough, task lists), then DOMPurify: the
// preview never runs script, whatever the document says.
import MarkdownIt from 'markdown-it'
import DOMPurify from 'dompurify'
import { attachmentUrl } from './api'

const md = new MarkdownIt({ html: true, linkify: true })

// Task lists: `- [ ] x` / `- [x] x` become disabled checkboxes.
md.core.ruler.after('inline', 'tasks', (state) => {
  for (const tok of state.tokens) {
    if (tok.type !== 'inline' || !tok.children?.length) continue
    const first = tok.children[0]
    const m = first.type === 'text' ? first.content.match(/^\[([ xX])\] /) : null
    if (!m) continue
    first.content = first.content.slice(4)
    const box = new state.Token('html_inline', '', 0)
    box.content = `<input type="checkbox" disabled${m[1] === ' ' ? '' : ' checked'} aria-label="task"> `
    tok.children.unshift(box)
  }
  return false
})

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('rel', 'noopener noreferrer')
    node.setAttribute('target', '_blank')
  }
})

const ATTACHMENT = /^\/api\/v1\/attachments\/([0-9a-f-]{36})$/

export function render (text: string, into: HTMLElement): void {
  const clean = DOMPurify.sanitize(md.render(text), {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['style', 'form', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style']
  })
  // Attachments download with the Bearer token: their images get object URLs instead.
  const pending: [HTMLImageElement, string][] = []
  for (const img of clean.querySelectorAll('img')) {
    const m = (img.getAttribute('src') ?? '').match(ATTACHMENT)
    if (m) {
      img.removeAttribute('src')
      pending.push([img, m[1]])
    }
  }
  into.replaceChildren(clean)
  for (const [img, id] of pending) {
    attachmentUrl(id).then((url) => { img.src = url }).catch(() => { img.alt = `${img.alt} (attachment unavailable)` })
  }
}

/** A server snippet: HTML-escaped text with <mark> around matches; nothing else survives. */
export function snippet (html: string): DocumentFragment {
  return DOMPurify.sanitize(html, { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [], RETURN_DOM_FRAGMENT: true })
}
