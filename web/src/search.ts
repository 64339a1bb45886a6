// Search across every project of the user (GET /search): the server's snippets (only <mark>
// survives, as in the project search); a hit opens the document with the words selected.
import * as api from './api'
import { h, errorBox } from './dom'
import { snippet } from './preview'

interface Hit { file_id: string, project_id: string, path: string, snippet: string }

export function searchView (main: HTMLElement): void {
  const err = errorBox()
  const box = h('input', { type: 'search', 'aria-label': 'Search all projects', placeholder: 'Words to find', required: true })
  const results = h('ul', { class: 'results', 'aria-label': 'Results in all projects' })
  const done = h('p', { role: 'status' })
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Everywhere' }, box, h('button', { type: 'submit' }, 'Search'))
  let names: Promise<Map<string, string>> | null = null
  const projectNames = () => {
    names ??= api.all<api.Project>('/projects').then((ps) => new Map(ps.map((p) => [p.id, p.name])))
    return names
  }
  const run = async (q: string) => {
    err.show(null)
    const [page, projects] = await Promise.all([
      api.api<api.Page<Hit>>('GET', `/search?q=${encodeURIComponent(q)}&limit=50`),
      projectNames()
    ])
    results.replaceChildren(...page.items.map((r) => h('li', {},
      h('a', { href: `/p/${r.project_id}/f/${r.file_id}?find=${encodeURIComponent(q)}` }, r.path),
      h('span', { class: 'role' }, ` in ${projects.get(r.project_id) ?? 'a project'}`),
      h('p', { class: 'snippet' }, snippet(r.snippet)))))
    done.textContent = page.items.length ? `${page.items.length} result${page.items.length === 1 ? '' : 's'}.` : 'No results.'
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const q = box.value.trim()
    if (!q) return
    history.replaceState(null, '', `/search?q=${encodeURIComponent(q)}`)
    run(q).catch((e: unknown) => err.show((e as Error).message))
  })
  main.replaceChildren(h('h1', {}, 'Search all projects'), form, err, done, results)
  const q = new URLSearchParams(location.search).get('q')
  if (q) {
    box.value = q
    run(q).catch((e: unknown) => err.show((e as Error).message))
  }
  box.focus()
}
