// A project: the document tree, search, members, and the open document with its panels.
import * as api from './api'
import { h, field, errorBox } from './dom'
import { go } from './router'
import { openDocument, type OpenDoc } from './editor'
import { snippet } from './preview'
import { historyPanel, membersPanel } from './panels'
import { aiPanel } from './chat'
import { commentsPanel, loadThreads, type CommentsPanel } from './comments'
import { suggestionsPanel, type SuggestionsPanel } from './suggestions'
import { followProject, type ProjectEvent } from './events'
import { type Mentionable } from './mention'

interface Cached { project: api.Project, files: api.FileMeta[] }

function cacheKey (id: string): string { return `mdz.project.${id}` }

async function load (id: string): Promise<Cached> {
  try {
    const [project, files] = await Promise.all([
      api.api<api.Project>('GET', `/projects/${id}`),
      api.all<api.FileMeta>(`/projects/${id}/files`)
    ])
    const c = { project, files }
    localStorage.setItem(cacheKey(id), JSON.stringify(c))
    return c
  } catch (e) {
    const raw = localStorage.getItem(cacheKey(id))
    if (e instanceof api.NetworkError && raw) return JSON.parse(raw) as Cached
    throw e
  }
}

export async function projectView (main: HTMLElement, user: api.User, projectId: string, fileId?: string): Promise<() => void> {
  let data: Cached
  try {
    data = await load(projectId)
  } catch (e) {
    main.replaceChildren(h('p', { role: 'alert' }, String((e as Error).message)), h('a', { href: '/' }, 'Back to projects'))
    return () => {}
  }
  const { project, files } = data
  document.title = `${project.name} · mdz`
  const canEdit = ['owner', 'admin', 'editor'].includes(project.role)
  const canManage = ['owner', 'admin'].includes(project.role)
  const panel = h('div', { class: 'panel' })
  const err = errorBox()

  // The tree: folders as nested lists, documents as links (drawn again when others change it).
  const tree = h('ul', { class: 'tree' })
  const drawTree = (list: api.FileMeta[]) => {
    tree.replaceChildren()
    const folders = new Map<string, HTMLUListElement>([['', tree]])
    const folder = (path: string): HTMLUListElement => {
      const existing = folders.get(path)
      if (existing) return existing
      const cut = path.lastIndexOf('/')
      const parent = folder(cut < 0 ? '' : path.slice(0, cut))
      const ul = h('ul', {})
      parent.append(h('li', { class: 'folder' }, h('span', {}, path.slice(cut + 1) + '/'), ul))
      folders.set(path, ul)
      return ul
    }
    for (const f of [...list].sort((a, b) => a.path.localeCompare(b.path))) {
      const cut = f.path.lastIndexOf('/')
      const current = f.id === fileId ? 'page' : undefined
      folder(cut < 0 ? '' : f.path.slice(0, cut)).append(
        h('li', {}, h('a', { href: `/p/${projectId}/f/${f.id}`, 'aria-current': current }, f.path.slice(cut + 1))))
    }
  }
  drawTree(files)
  const reloadTree = () => { void load(projectId).then((c) => drawTree(c.files)).catch(() => { /* the next event retries */ }) }

  // New document.
  const path = h('input', { type: 'text', required: true, placeholder: 'notes/plan.md' })
  const newForm = h('form', { class: 'inline', hidden: true, 'aria-label': 'New document' }, field('Path', path), h('button', { type: 'submit' }, 'Create'))
  newForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const p = path.value.endsWith('.md') ? path.value : `${path.value}.md`
    api.api<api.FileMeta>('POST', `/projects/${projectId}/files`, { path: p, content: '' })
      .then((f) => go(`/p/${projectId}/f/${f.id}`))
      .catch((e: unknown) => err.show((e as Error).message))
  })
  const newDoc = canEdit
    ? h('button', { type: 'button', onclick: () => { newForm.hidden = !newForm.hidden; if (!newForm.hidden) path.focus() } }, 'New document')
    : null

  // Search.
  const search = h('input', { type: 'search', 'aria-label': 'Search', placeholder: 'Search' })
  const results = h('ul', { class: 'results', 'aria-label': 'Search results' })
  search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !search.value.trim()) return
    e.preventDefault()
    api.api<api.Page<{ file_id: string, path: string, snippet: string }>>('GET', `/projects/${projectId}/search?q=${encodeURIComponent(search.value)}&limit=20`)
      .then((page) => {
        results.replaceChildren(...page.items.map((r) =>
          h('li', {}, h('a', { href: `/p/${projectId}/f/${r.file_id}?find=${encodeURIComponent(search.value.trim())}` }, r.path), h('p', { class: 'snippet' }, snippet(r.snippet)))))
        if (!page.items.length) results.replaceChildren(h('li', {}, 'No results.'))
      })
      .catch((e: unknown) => err.show((e as Error).message))
  })

  const togglePanel = (make: () => HTMLElement) => () => {
    panel.replaceChildren(make())
  }
  // The project: rename (admins), delete (the owner; restorable from the projects page).
  const newName = h('input', { type: 'text', required: true, maxlength: '100', value: project.name })
  const renameForm = h('form', { class: 'inline', hidden: true, 'aria-label': 'Rename project' }, field('Project name', newName), h('button', { type: 'submit' }, 'Save'))
  renameForm.addEventListener('submit', (e) => {
    e.preventDefault()
    api.api('PATCH', `/projects/${projectId}`, { name: newName.value })
      .then(() => go(location.pathname))
      .catch((e: unknown) => err.show((e as Error).message))
  })
  const projectActions = h('div', { class: 'actions' },
    canManage ? h('button', { type: 'button', onclick: () => { renameForm.hidden = !renameForm.hidden } }, 'Rename project') : null,
    project.role === 'owner'
      ? h('button', {
        type: 'button',
        onclick: () => {
          api.api('DELETE', `/projects/${projectId}`)
            .then(() => { sessionStorage.setItem('mdz.deleted', JSON.stringify({ id: projectId, name: project.name })); go('/') })
            .catch((e: unknown) => err.show((e as Error).message))
        }
      }, 'Delete project')
      : null)

  // The trash: documents moved there, each restorable.
  const trash = h('ul', { class: 'trash', 'aria-label': 'Trash' })
  const showTrash = () => {
    api.all<api.FileMeta>(`/projects/${projectId}/files?trashed=true`).then((fs) => {
      trash.replaceChildren(...fs.map((f) => h('li', {}, f.path, ' ',
        h('button', {
          type: 'button',
          'aria-label': `Restore ${f.path}`,
          onclick: () => { void api.api('POST', `/files/${f.id}/restore`).then(() => go(`/p/${projectId}/f/${f.id}`)).catch((e: unknown) => err.show((e as Error).message)) }
        }, 'Restore'))))
      if (!fs.length) trash.replaceChildren(h('li', {}, 'The trash is empty.'))
    }).catch((e: unknown) => err.show((e as Error).message))
  }

  const sidebar = h('nav', { class: 'side', 'aria-label': 'Documents' },
    h('h1', {}, project.name), h('p', { class: 'role' }, `Your role: ${project.role}`),
    projectActions, renameForm,
    h('div', { class: 'search' }, search), results,
    newDoc, newForm, tree,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: togglePanel(() => membersPanel(projectId, { id: user.id, role: project.role })) }, 'Members'),
      h('button', { type: 'button', onclick: togglePanel(() => aiPanel(projectId, canEdit)) }, 'Ask AI'),
      canEdit ? h('button', { type: 'button', onclick: showTrash }, 'Trash') : null),
    trash)

  let open: OpenDoc | null = null
  // What the open document's views do when others change it (set below when one is open).
  let fileChanged: (event: ProjectEvent | 'reset') => void = () => {}
  const unfollow = followProject(projectId, (event) => {
    if (event === 'reset' || event.type.startsWith('file.')) reloadTree()
    fileChanged(event)
  })
  const content = h('div', { class: 'content' })
  if (fileId) {
    const meta = files.find((f) => f.id === fileId)
    const canComment = project.role !== 'viewer'
    const names = new Map<string, string>([[user.id, user.display_name]])
    let members: Mentionable[] = []
    api.all<Mentionable>(`/projects/${projectId}/members`)
      .then((ms) => { members = ms; for (const m of ms) names.set(m.user_id, m.display_name) })
      .catch(() => { /* names and mention completion are niceties */ })
    const historyBtn = h('button', { type: 'button', onclick: togglePanel(() => historyPanel(fileId, canEdit, names)) }, 'History')
    let commentsShown: CommentsPanel | null = null
    const showComments = (focus: string | null) => panel.replaceChildren(commentsShown = commentsPanel({
      fileId,
      canComment,
      selection: () => open?.selection() ?? { anchor: null, quote: null },
      names,
      members: () => members.filter((m) => m.user_id !== user.id),
      focus,
      onThreads: (threads) => open?.setThreads(threads),
      reveal: (id) => open?.reveal(id) ?? false,
      changed: () => open?.announceComments()
    }))
    // Someone else here commented, replied or resolved: the panel (when shown) or the
    // highlights catch up.
    const commentsChanged = () => {
      if (commentsShown && panel.contains(commentsShown)) commentsShown.reload()
      else loadThreads(fileId).then((threads) => open?.setThreads(threads)).catch(() => { /* a nicety */ })
    }
    const commentsBtn = h('button', { type: 'button', onclick: () => showComments(null) }, 'Comments')
    let suggestionsShown: SuggestionsPanel | null = null
    const suggestionsBtn = h('button', {
      type: 'button',
      onclick: togglePanel(() => (suggestionsShown = suggestionsPanel({
        fileId,
        canDecide: canEdit,
        selection: () => open?.selection() ?? { anchor: null, quote: null },
        names,
        reveal: (anchor) => open?.revealAnchor(anchor) ?? false
      })))
    }, 'Suggestions')
    fileChanged = (event) => {
      const about = event === 'reset' ? fileId : (event.data.file_id as string | undefined)
      if (about !== fileId) return
      if (event === 'reset' || event.type.startsWith('suggestion.')) {
        if (suggestionsShown && panel.contains(suggestionsShown)) suggestionsShown.reload()
      }
      if (event === 'reset' || event.type.startsWith('comment.')) commentsChanged()
    }
    const moveTo = h('input', { type: 'text', required: true, value: meta?.path ?? '' })
    const moveForm = h('form', { class: 'inline', hidden: true, 'aria-label': 'Rename or move' }, field('New path', moveTo), h('button', { type: 'submit' }, 'Move'))
    moveForm.addEventListener('submit', (e) => {
      e.preventDefault()
      api.api('PATCH', `/files/${fileId}`, { path: moveTo.value })
        .then(() => go(location.pathname))
        .catch((e: unknown) => err.show((e as Error).message))
    })
    const docActions = canEdit
      ? [
          h('button', { type: 'button', onclick: () => { moveForm.hidden = !moveForm.hidden; if (!moveForm.hidden) moveTo.focus() } }, 'Rename'),
          h('button', {
            type: 'button',
            onclick: () => { void api.api('DELETE', `/files/${fileId}`).then(() => go(`/p/${projectId}`)).catch((e: unknown) => err.show((e as Error).message)) }
          }, 'Move to trash')
        ]
      : []
    const find = new URLSearchParams(location.search).get('find')
    open = openDocument(projectId, fileId, user, project.role, [historyBtn, commentsBtn, suggestionsBtn, ...docActions], { find, openThread: showComments, commentsChanged })
    loadThreads(fileId).then((threads) => open?.setThreads(threads)).catch(() => { /* highlights are a nicety */ })
    content.append(moveForm)
    content.prepend(h('h2', { class: 'path' }, meta?.path ?? 'Document'))
    content.append(open.element)
  } else {
    content.append(h('p', { class: 'hint' }, files.length ? 'Open a document from the list.' : 'No documents yet.'))
  }
  main.replaceChildren(h('div', { class: 'project' }, sidebar, h('div', { class: 'work' }, err, content, panel)))
  return () => { unfollow(); open?.destroy() }
}
