// The API client: the access token lives in memory only; the refresh token is an HttpOnly
// cookie (cookie mode, opted into with the X-MDZ-Auth header), so page scripts never see it.

export interface User { id: string; email: string; display_name: string }
export interface Project { id: string; name: string; role: Role; description?: string }
export type Role = 'owner' | 'admin' | 'editor' | 'commenter' | 'viewer'
export const ROLES: Role[] = ['owner', 'admin', 'editor', 'commenter', 'viewer']
export interface FileMeta { id: string; path: string; title: string; project_id: string; revision: number }
export interface Page<T> { items: T[]; next_cursor?: string | null }

const MODE_HEADER = 'X-MDZ-Auth'
const USER_KEY = 'mdz.user'

let accessToken: string | null = null
let expiresAt = 0
let refreshing: Promise<boolean> | null = null

export class ApiError extends Error {
  constructor (public status: number, public title: string, public detail?: string) {
    super(detail ? `${title}: ${detail}` : title)
  }
}

/** A request that could not reach the server (offline, server down). */
export class NetworkError extends Error {}

export function cachedUser (): User | null {
  try {
    const raw = localStorage.getItem(USER_KEY)
    return raw ? JSON.parse(raw) as User : null
  } catch { return null }
}

function signedIn (body: { user: User, access_token: string, expires_in: number }): User {
  accessToken = body.access_token
  expiresAt = Date.now() + (body.expires_in - 30) * 1000
  localStorage.setItem(USER_KEY, JSON.stringify(body.user))
  return body.user
}

async function send (path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch('/api/v1' + path, { credentials: 'same-origin', ...init })
  } catch (e) {
    throw new NetworkError(String(e))
  }
}

async function problem (res: Response): Promise<ApiError> {
  let title = res.statusText || 'Request failed'
  let detail: string | undefined
  try {
    const body = await res.json()
    title = body.title ?? title
    detail = body.detail ?? body.errors?.map((e: { field: string, message: string }) => `${e.field}: ${e.message}`).join('; ')
  } catch { /* not JSON */ }
  return new ApiError(res.status, title, detail)
}

async function authCall (path: string, body: unknown): Promise<User> {
  const res = await send(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', [MODE_HEADER]: 'cookie' },
    body: JSON.stringify(body)
  })
  if (!res.ok) throw await problem(res)
  return signedIn(await res.json())
}

export const register = (email: string, password: string, displayName: string) =>
  authCall('/auth/register', { email, password, display_name: displayName })
export const login = (email: string, password: string) => authCall('/auth/login', { email, password })

/** Trade the refresh cookie for an access token; false when there is no valid session. */
export function refresh (): Promise<boolean> {
  if (refreshing) return refreshing
  {
    const run = async () => {
      const res = await send('/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [MODE_HEADER]: 'cookie' },
        body: '{}'
      })
      if (res.status === 401 || res.status === 422) {
        accessToken = null
        return false
      }
      if (!res.ok) throw await problem(res)
      signedIn(await res.json())
      return true
    }
    // Refresh tokens are single use: two tabs refreshing at once would look like reuse, so tabs
    // take turns (the second one sends the cookie the first one received).
    const locks = (navigator as Navigator & { locks?: LockManager }).locks
    const p: Promise<boolean> = (locks ? locks.request('mdz-refresh', () => run()) as unknown as Promise<boolean> : run())
      .finally(() => { refreshing = null })
    refreshing = p
    return p
  }
}

export async function token (): Promise<string> {
  if (!accessToken || Date.now() > expiresAt) {
    if (!await refresh()) throw new ApiError(401, 'Signed out')
  }
  return accessToken as string
}

export async function api<T> (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const call = async () => send(path, {
    method,
    headers: {
      Authorization: `Bearer ${await token()}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  let res = await call()
  if (res.status === 401 && await refresh()) res = await call()
  if (!res.ok) throw await problem(res)
  if (res.status === 204 || res.status === 202) return undefined as T
  return await res.json() as T
}

export async function all<T> (path: string): Promise<T[]> {
  const items: T[] = []
  let cursor: string | null | undefined
  for (let i = 0; i < 20; i++) {
    const sep = path.includes('?') ? '&' : '?'
    const page = await api<Page<T>>('GET', `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    items.push(...page.items)
    cursor = page.next_cursor
    if (!cursor) break
  }
  return items
}

export async function logout (): Promise<void> {
  try {
    await api('POST', '/auth/logout', undefined, { [MODE_HEADER]: 'cookie' })
  } catch { /* signed out either way */ }
  accessToken = null
  localStorage.clear()
  const dbs = await indexedDB.databases?.() ?? []
  await Promise.all(dbs.filter((d) => d.name?.startsWith('mdz-')).map((d) => new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(d.name as string)
    r.onsuccess = r.onerror = r.onblocked = resolve
  })))
}

/** A POST whose answer is read as Server-Sent Events: calls `on(event, data)` per frame. */
export async function stream (path: string, body: unknown, on: (event: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
  await events(path, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }, (event, data) => on(event, data), signal)
}

/** A GET read as Server-Sent Events (`headers` e.g. `Last-Event-ID`): `on(event, data, id)`
 * per frame, until the server ends the stream or `signal` aborts it. */
export async function listen (path: string, headers: Record<string, string>, on: (event: string, data: unknown, id: string | null) => void, signal?: AbortSignal): Promise<void> {
  await events(path, { method: 'GET', headers }, on, signal)
}

async function events (path: string, init: { method: string, body?: string, headers: Record<string, string> }, on: (event: string, data: unknown, id: string | null) => void, signal?: AbortSignal): Promise<void> {
  const call = async () => send(path, {
    method: init.method,
    headers: { Authorization: `Bearer ${await token()}`, Accept: 'text/event-stream', ...init.headers },
    body: init.body,
    signal
  })
  let res = await call()
  if (res.status === 401 && await refresh()) res = await call()
  if (!res.ok || !res.body) throw await problem(res)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buf += value
    let cut: number
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut)
      buf = buf.slice(cut + 2)
      let event = 'message'
      let data = ''
      let id: string | null = null
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data += line.slice(5).trim()
        else if (line.startsWith('id:')) id = line.slice(3).trim()
      }
      if (!data && event === 'message') continue // a comment (heartbeat)
      try { on(event, data ? JSON.parse(data) : null, id) } catch { /* a frame we do not understand */ }
    }
  }
}

/** Upload a file as an attachment of the project (announce, PUT to the presigned URL,
 * complete); answers the attachment's id. */
export async function uploadAttachment (projectId: string, file: File): Promise<string> {
  const announced = await api<{ id: string, upload_url: string, headers: Record<string, string> }>(
    'POST', `/projects/${projectId}/attachments`,
    { filename: file.name || 'pasted', content_type: file.type, size: file.size })
  let res: Response
  try {
    res = await fetch(announced.upload_url, { method: 'PUT', headers: announced.headers, body: file })
  } catch (e) {
    throw new NetworkError(String(e))
  }
  if (!res.ok) throw await problem(res)
  await api('POST', `/attachments/${announced.id}/complete`)
  return announced.id
}

const blobs = new Map<string, Promise<string>>()

/** An object URL of an attachment's bytes (the download needs the Bearer token, which an
 * <img src> cannot send). */
export function attachmentUrl (id: string): Promise<string> {
  let url = blobs.get(id)
  if (!url) {
    url = (async () => {
      const res = await send(`/attachments/${id}`, { headers: { Authorization: `Bearer ${await token()}` } })
      if (!res.ok) throw await problem(res)
      return URL.createObjectURL(await res.blob())
    })()
    url.catch(() => blobs.delete(id))
    blobs.set(id, url)
  }
  return url
}
