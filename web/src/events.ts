// A project's live events (GET /projects/{id}/events, Server-Sent Events): the open views
// catch up when someone else creates, renames or trashes a document, comments, or proposes,
// accepts or rejects a suggestion. A dropped stream reconnects with Last-Event-ID, so
// nothing is missed; after a `reset` (the cursor fell below the server's horizon) everything
// is reloaded.
import * as api from './api'

export interface ProjectEvent { type: string, actor?: string | null, data: Record<string, unknown> }

/** Follow the project's events until the returned function is called. */
export function followProject (projectId: string, on: (event: ProjectEvent | 'reset') => void): () => void {
  const stop = new AbortController()
  let last: string | null = null
  const run = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      try {
        await api.listen(`/projects/${projectId}/events`, last ? { 'Last-Event-ID': last } : {}, (event, data, id) => {
          if (id) last = id
          if (event === 'reset') on('reset')
          else if (event === 'message' && data) on(data as ProjectEvent)
        }, stop.signal)
      } catch (e) {
        // 404/403: no longer a member; the views say so on their next request.
        if (e instanceof api.ApiError && (e.status === 404 || e.status === 403 || e.status === 401)) return
      }
      if (!stop.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 2000))
    }
  }
  void run()
  return () => stop.abort()
}
