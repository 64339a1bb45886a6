// A tiny element builder: h('button', { type: 'button', onclick }, 'Text').
type Child = Node | string | null | undefined | false
type Props = Record<string, unknown>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, props: Props = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener)
    } else if (k === 'class') {
      el.className = String(v)
    } else if (v === true) {
      el.setAttribute(k, '')
    } else {
      el.setAttribute(k, String(v))
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue
    el.append(c)
  }
  return el
}

let idSeq = 0
export const uid = (p: string) => `${p}-${++idSeq}`

/** A labelled field: <label for>…</label><input id>. */
export function field (label: string, input: HTMLInputElement | HTMLSelectElement): HTMLElement {
  const id = uid('f')
  input.id = id
  return h('div', { class: 'field' }, h('label', { for: id }, label), input)
}

export function errorBox (): HTMLElement & { show: (msg: string | null) => void } {
  const el = h('p', { class: 'error', role: 'alert' }) as unknown as HTMLElement & { show: (msg: string | null) => void }
  el.show = (msg) => { el.textContent = msg ?? '' }
  return el
}
