// One stock y-websocket client, driven by JSON lines on stdin; answers on stdout.
// Usage: node driver.mjs <serverUrl> <room> [token]
// Each command {"id", "cmd", ...} gets one answer {"id", ...}; events come as {"event", ...}.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const [serverUrl, room, token] = process.argv.slice(2)
const doc = new Y.Doc()
const text = doc.getText('content')
const params = token ? { token } : {}
const provider = new WebsocketProvider(serverUrl, room, doc, {
  WebSocketPolyfill: WebSocket,
  params,
  resyncInterval: -1,
  maxBackoffTime: 500
})

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
provider.on('status', (e) => out({ event: 'status', status: e.status }))
provider.on('connection-close', (e) => out({ event: 'close', code: e?.code ?? null }))

const others = () => {
  const states = []
  provider.awareness.getStates().forEach((state, clientId) => {
    if (clientId !== doc.clientID) states.push(state)
  })
  return states
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
async function until (pred, timeoutMs) {
  const end = Date.now() + (timeoutMs ?? 10000)
  while (Date.now() < end) {
    if (pred()) return true
    await sleep(10)
  }
  return pred()
}

const commands = {
  async synced ({ timeout_ms: t }) {
    return { ok: await until(() => provider.synced, t) }
  },
  insert ({ pos, text: s }) {
    text.insert(Math.min(pos ?? text.length, text.length), s)
    return { ok: true }
  },
  append ({ text: s }) {
    text.insert(text.length, s)
    return { ok: true }
  },
  // Type `text` one character at a time, `every_ms` apart.
  async type ({ text: s, every_ms: every }) {
    for (const ch of s) {
      text.insert(text.length, ch)
      await sleep(every ?? 5)
    }
    return { ok: true }
  },
  delete ({ pos, len }) {
    text.delete(pos, len)
    return { ok: true }
  },
  text () {
    return { text: text.toString() }
  },
  // Relative positions (base64, as the web app's comment anchors) around the first
  // occurrence of `find`.
  anchor ({ find }) {
    const from = text.toString().indexOf(find)
    if (from < 0) return { ok: false }
    const b64 = (pos) => Buffer.from(Y.encodeRelativePosition(
      Y.createRelativePositionFromTypeIndex(text, pos))).toString('base64')
    return { ok: true, start: b64(from), end: b64(from + find.length) }
  },
  async wait_text ({ contains, equals, timeout_ms: t }) {
    const ok = await until(() => {
      const now = text.toString()
      return (contains === undefined || now.includes(contains)) && (equals === undefined || now === equals)
    }, t)
    return { ok, text: text.toString() }
  },
  set_awareness ({ state }) {
    provider.awareness.setLocalState(state)
    return { ok: true }
  },
  awareness () {
    return { states: others() }
  },
  client_id () {
    return { client_id: doc.clientID }
  },
  async wait_awareness ({ count, timeout_ms: t }) {
    const ok = await until(() => others().length === count, t)
    return { ok, states: others() }
  },
  disconnect () {
    provider.disconnect()
    return { ok: true }
  },
  connect () {
    provider.connect()
    return { ok: true }
  },
  async wait_disconnected ({ timeout_ms: t }) {
    return { ok: await until(() => !provider.wsconnected, t) }
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return out({ error: 'bad json' })
  }
  const run = commands[msg.cmd]
  if (!run) return out({ id: msg.id, error: `unknown command ${msg.cmd}` })
  try {
    out({ id: msg.id, ...(await run(msg)) })
  } catch (e) {
    out({ id: msg.id, error: String(e) })
  }
})
rl.on('close', () => {
  provider.destroy()
  setTimeout(() => process.exit(0), 50)
})
