// @mention completion for a comment box: typing `@` and a few letters of a member's name or
// email offers the project's members; choosing one inserts `@email ` (what the server reads as
// a mention: an email right after an `@`, ended by whitespace).
import { h, uid } from './dom'

export interface Mentionable { user_id: string, email: string, display_name: string }

const MAX_OPTIONS = 8

/** Wire completion into `input`; answers the listbox to place right after it. */
export function mentions (input: HTMLTextAreaElement | HTMLInputElement, members: () => Mentionable[]): HTMLElement {
  const list = h('ul', { class: 'mentions', role: 'listbox', id: uid('mentions'), 'aria-label': 'Mention suggestions', hidden: true })
  input.setAttribute('aria-autocomplete', 'list')
  input.setAttribute('aria-controls', list.id)
  let options: Mentionable[] = []
  let active = 0
  let start = -1

  const close = () => {
    list.hidden = true
    options = []
    input.removeAttribute('aria-activedescendant')
  }
  const paint = () => {
    list.replaceChildren(...options.map((m, i) => {
      const li = h('li', { role: 'option', id: `${list.id}-${i}`, 'aria-selected': String(i === active) }, `${m.display_name} <${m.email}>`)
      // Keep the focus in the box; choose on click.
      li.addEventListener('mousedown', (e) => e.preventDefault())
      li.addEventListener('click', () => choose(i))
      return li
    }))
    list.hidden = options.length === 0
    if (options.length) input.setAttribute('aria-activedescendant', `${list.id}-${active}`)
    else input.removeAttribute('aria-activedescendant')
  }
  const choose = (i: number) => {
    const m = options[i]
    if (!m || start < 0) return
    const caret = input.selectionStart ?? input.value.length
    const insert = `@${m.email} `
    input.value = input.value.slice(0, start) + insert + input.value.slice(caret)
    const at = start + insert.length
    input.setSelectionRange(at, at)
    close()
    input.focus()
  }
  input.addEventListener('input', () => {
    const caret = input.selectionStart ?? input.value.length
    const before = input.value.slice(0, caret)
    const m = before.match(/(?:^|\s)@([^\s@]*)$/)
    if (!m) return close()
    start = caret - m[1].length - 1
    const q = m[1].toLowerCase()
    options = members()
      .filter((x) => x.display_name.toLowerCase().includes(q) || x.email.toLowerCase().includes(q))
      .slice(0, MAX_OPTIONS)
    active = 0
    paint()
  })
  input.addEventListener('keydown', (e: Event) => {
    const k = e as KeyboardEvent
    if (list.hidden || !options.length) return
    if (k.key === 'ArrowDown' || k.key === 'ArrowUp') {
      active = (active + (k.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length
      paint()
    } else if (k.key === 'Enter' || k.key === 'Tab') {
      choose(active)
    } else if (k.key === 'Escape') {
      close()
    } else {
      return
    }
    k.preventDefault()
  })
  input.addEventListener('blur', close)
  return list
}
