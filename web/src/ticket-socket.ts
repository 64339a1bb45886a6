// A WebSocket for y-websocket that authenticates with a fresh single-use ticket
// (POST /collab/tickets) on every (re)connect: browsers cannot set Authorization on a
// WebSocket, and an access token in the URL would end up in logs.
import { api, ApiError } from './api'

export class TicketSocket {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  readonly CONNECTING = 0
  readonly OPEN = 1
  readonly CLOSING = 2
  readonly CLOSED = 3
  binaryType: BinaryType = 'arraybuffer'
  readyState = 0
  onopen: ((e: Event) => void) | null = null
  onmessage: ((e: MessageEvent) => void) | null = null
  onclose: ((e: CloseEvent | { code: number, reason: string }) => void) | null = null
  onerror: ((e: Event) => void) | null = null
  private ws: WebSocket | null = null
  private closed = false

  constructor (url: string) {
    api<{ ticket: string }>('POST', '/collab/tickets').then(({ ticket }) => {
      if (this.closed) return
      const ws = new WebSocket(`${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}`)
      ws.binaryType = this.binaryType
      ws.onopen = (e) => { this.readyState = 1; this.onopen?.(e) }
      ws.onmessage = (e) => this.onmessage?.(e)
      ws.onerror = (e) => this.onerror?.(e)
      ws.onclose = (e) => { this.readyState = 3; this.onclose?.(e) }
      this.ws = ws
    }).catch((e: unknown) => {
      this.readyState = 3
      // 401/403/404 from the ticket endpoint mean the server will not let us in: stop (44xx).
      const code = e instanceof ApiError && e.status >= 400 && e.status < 500 ? 4400 + (e.status % 100) : 1006
      this.onclose?.({ code, reason: String(e) })
    })
  }

  send (data: ArrayBufferLike | Uint8Array): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(data as ArrayBuffer)
  }

  close (): void {
    this.closed = true
    this.readyState = 3
    this.ws?.close()
  }
}
