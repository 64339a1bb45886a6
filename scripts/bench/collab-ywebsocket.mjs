// Collab load with the stock client, for scripts/bench-collab.sh: `WebsocketProvider` from the
// npm `y-websocket` package with `yjs` (both from tests/collab-js, through
// tests/collab-js/stock-client.mjs) and `ws` as its WebSocket, as a Node application runs it.
// Prints figures; asserts nothing.
//
//   node scripts/bench/collab-ywebsocket.mjs <server-url> <room> <clients> <typists> <seconds>
//        [--token T] [--threads W] [--observers K] [--server-pid PID]
//
// `<clients>` providers join one room (URL `<server-url>/<room>?token=T`, the provider's own
// URL scheme); the first `<typists>` of them insert one character at the end of the text 10
// times a second each, phases spread over the 100 ms. After a 2 s warm-up, for `<seconds>`
// seconds: the time from a typist's insert until each other client's Y.Doc has it (p50/p99),
// and deliveries per second against the expected `typists * (clients - 1) * 10`.
//
// Timing. The typist writes the time (process.hrtime: CLOCK_MONOTONIC, one clock for every
// thread) into a table shared by all threads (SharedArrayBuffer) at the slot of the insert's
// Yjs id (typist, clock), then inserts; the provider sends the update synchronously from the
// insert. A receiver, after each remote transaction, looks up every (client, clock) the
// transaction integrated (its before/after state vectors) and records now - sent. So a
// delivery is timed to when the content is in the receiving document, as an editor would
// show it — decoding and applying included, which the Rust generator skips.
//
// Client load. A stock client applies every update it receives, and yjs's cost per applied
// update grows with the number of writers in the document (each transaction copies the state
// vector: 50-70 us at 20 writers, 135-150 us at 100 on a 2-core machine). With every client
// applying, N = 100 typing is 99,000 applies a second — several cores of Node, far more than
// the server's fan-out costs. So `--observers K` (default: all) keeps K clients (the last K:
// typists when everyone types, readers otherwise) as they ship; the others are the same
// providers (connect, sync, awareness, framing, sending: stock), except that once synced they
// read each live update message and drop it instead of applying it — as the Rust generator's
// clients do. Latency and deliveries are measured at the observers; `fan-out` counts the
// update messages every client received.
//
// The clients run in `--threads` worker threads (clients dealt round-robin, typists spread
// over them). Each thread reports its event-loop utilisation (busy fraction) and event-loop
// delay p99; the line prints the worst thread and the CPU of the whole client process (and of
// the server, with --server-pid). A thread busy near 1.0, or a loop delay of the order of the
// latencies, means the figure measures Node, not the server.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { performance, monitorEventLoopDelay } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

const WARMUP_MS = 2000
const PERIOD_MS = 100
const DRAIN_MS = 1000

const now = () => {
  const [s, ns] = process.hrtime()
  return s * 1e3 + ns / 1e6
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (isMainThread) {
  await main()
} else {
  await worker(workerData)
}

function parseArgs (argv) {
  const positional = []
  const opts = { token: null, threads: 1, observers: null, serverPid: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--token') opts.token = argv[++i]
    else if (a === '--threads') opts.threads = Number(argv[++i])
    else if (a === '--observers') opts.observers = Number(argv[++i])
    else if (a === '--server-pid') opts.serverPid = Number(argv[++i])
    else positional.push(a)
  }
  if (positional.length !== 5) {
    console.error('usage: collab-ywebsocket.mjs <server-url> <room> <clients> <typists> <seconds> [--token T] [--threads W] [--observers K] [--server-pid PID]')
    process.exit(2)
  }
  const [url, room, clients, typists, seconds] = positional
  const n = Number(clients)
  const observers = Math.min(n, opts.observers ?? n)
  return { ...opts, observers, url, room, clients: n, typists: Number(typists), seconds: Number(seconds) }
}

// CPU seconds (user + system, all threads) of a process, from /proc/<pid>/stat.
function procCpu (pid, ticks) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticks
  } catch {
    return NaN
  }
}

// The first writer's client id in a sync update message's payload (v1: length, number of
// clients, number of structs, client id — all varuints).
function firstWriter (arr, pos) {
  const values = []
  while (values.length < 4 && pos < arr.length) {
    let v = 0
    let mult = 1
    let byte
    do {
      byte = arr[pos++]
      v += (byte & 0x7f) * mult
      mult *= 128
    } while (byte >= 0x80 && pos < arr.length)
    values.push(v)
  }
  return values[3]
}

function pct (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.round((sorted.length - 1) * p)]
}

async function main () {
  const a = parseArgs(process.argv.slice(2))
  const threads = Math.max(1, Math.min(a.threads, a.clients))
  const slots = Math.ceil(((a.seconds * 1000 + WARMUP_MS) / PERIOD_MS) * 1.5) + 100
  const sab = new SharedArrayBuffer(8 * a.typists * slots)
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

  const workers = []
  const ready = []
  for (let w = 0; w < threads; w++) {
    const indices = []
    for (let i = w; i < a.clients; i += threads) indices.push(i)
    const wk = new Worker(new URL(import.meta.url), {
      workerData: { ...a, indices, slots, sab }
    })
    workers.push(wk)
    ready.push(new Promise((resolve, reject) => {
      wk.once('message', resolve)
      wk.once('error', reject)
    }))
  }
  const hello = await Promise.all(ready)
  const failed = hello.reduce((n, h) => n + h.failed, 0)
  const ids = hello.flatMap((h) => h.typists)

  const t0 = now() + 200
  const warmupEnd = t0 + WARMUP_MS
  const until = warmupEnd + a.seconds * 1000
  const results = workers.map((wk) => new Promise((resolve, reject) => {
    wk.once('message', resolve)
    wk.once('error', reject)
  }))
  for (const wk of workers) wk.postMessage({ ids, t0, warmupEnd, until })

  await sleep(warmupEnd - now())
  const cpu0 = process.cpuUsage()
  const server0 = a.serverPid ? procCpu(a.serverPid, ticks) : NaN
  await sleep(until - now())
  const cpu1 = process.cpuUsage(cpu0)
  const server1 = a.serverPid ? procCpu(a.serverPid, ticks) : NaN
  const measured = (until - warmupEnd) / 1000

  const outs = await Promise.all(results)
  let total = 0
  for (const o of outs) total += o.lat.length
  const all = new Float64Array(total)
  let at = 0
  for (const o of outs) {
    all.set(o.lat, at)
    at += o.lat.length
  }
  all.sort()
  // Each observer gets every typist's inserts but its own.
  let perSecond = 0
  for (let i = a.clients - a.observers; i < a.clients; i++) perSecond += 10 * (a.typists - (i < a.typists ? 1 : 0))
  const expected = perSecond * measured
  const fanout = outs.reduce((f, o) => f + o.frames, 0) / measured
  const fanoutExpected = a.typists * (a.clients - 1) * 10
  const busy = Math.max(...outs.map((o) => o.elu))
  const lag = Math.max(...outs.map((o) => o.lagP99))
  const clientCpu = (cpu1.user + cpu1.system) / 1e6 / measured
  const serverCpu = (server1 - server0) / measured
  const line = [
    `N=${String(a.clients).padEnd(4)} typing ${String(a.typists).padEnd(4)} observers ${String(a.observers).padEnd(4)}`,
    `p50 ${pct(all, 0.5).toFixed(2).padStart(8)} ms  p99 ${pct(all, 0.99).toFixed(2).padStart(8)} ms`,
    `deliveries ${(total / measured).toFixed(0).padStart(9)}/s  (${(100 * total / Math.max(expected, 1)).toFixed(1)}% of the ${(expected / measured).toFixed(0)} expected)`,
    `fan-out ${fanout.toFixed(0)}/s (${(100 * fanout / Math.max(fanoutExpected, 1)).toFixed(1)}%)`,
    `client ${threads} thread${threads > 1 ? 's' : ''}: busy ${busy.toFixed(2)} lag-p99 ${lag.toFixed(1)} ms cpu ${(100 * clientCpu).toFixed(0)}%`
  ]
  if (a.serverPid) line.push(`server cpu ${(100 * serverCpu).toFixed(0)}%`)
  if (failed > 0) line.push(`(${failed} clients failed to sync)`)
  console.log(line.join('  '))
  process.exit(0)
}

async function worker ({ url, room, token, clients: total, observers, indices, typists, slots, sab }) {
  const { Y, WebsocketProvider, WebSocket } = await import('../../tests/collab-js/stock-client.mjs')
  process.setMaxListeners(0)
  const sent = new Float64Array(sab)
  const counting = { on: false }
  let frames = 0
  const params = token ? { token } : {}
  const clients = []
  for (const index of indices) {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(url, room, doc, {
      WebSocketPolyfill: WebSocket,
      params,
      // One process: without this, providers of one room talk through Node's
      // BroadcastChannel and skip the server.
      disableBc: true
    })
    clients.push({ index, doc, provider, text: doc.getText('content') })
    const stockSync = provider.messageHandlers[0]
    const observer = index >= total - observers
    provider.messageHandlers[0] = (encoder, decoder, p, emitSynced, type) => {
      // y-protocols sync message type 2 (one byte): a live update. The reference server also
      // echoes an update to its sender: not counted as fan-out.
      if (decoder.arr[decoder.pos] === 2) {
        if (counting.on && firstWriter(decoder.arr, decoder.pos + 1) !== doc.clientID) frames++
        if (!observer && p.synced) return
      }
      stockSync(encoder, decoder, p, emitSynced, type)
    }
    await sleep(2)
  }
  const syncEnd = Date.now() + 60000
  while (Date.now() < syncEnd && clients.some((c) => !c.provider.synced)) await sleep(20)
  const failed = clients.filter((c) => !c.provider.synced).length
  parentPort.postMessage({
    failed,
    typists: clients.filter((c) => c.index < typists).map((c) => [c.index, c.doc.clientID])
  })

  const { ids, t0, warmupEnd, until } = await new Promise((resolve) => parentPort.once('message', resolve))
  const slotOf = new Map(ids.map(([index, clientID]) => [clientID, index * slots]))

  let lat = new Float64Array(1 << 16)
  let n = 0
  const record = (ms) => {
    if (n === lat.length) {
      const bigger = new Float64Array(lat.length * 2)
      bigger.set(lat)
      lat = bigger
    }
    lat[n++] = ms
  }
  for (const c of clients) {
    c.doc.on('afterTransaction', (tr) => {
      if (tr.local) return
      const t = now()
      tr.afterState.forEach((after, client) => {
        const base = slotOf.get(client)
        if (base === undefined) return
        const before = tr.beforeState.get(client) || 0
        for (let clock = before; clock < after && clock < slots; clock++) {
          const at = sent[base + clock]
          if (at > 0) record(t - at)
        }
      })
    })
  }

  for (const c of clients) {
    if (c.index >= typists) continue
    const offset = Math.random() * PERIOD_MS
    const base = c.index * slots
    const tick = (k) => {
      const target = t0 + offset + k * PERIOD_MS
      if (target >= until) return
      setTimeout(() => {
        // Timed only if scheduled inside the window: late ticks of the warm-up are not.
        const clock = Y.getState(c.doc.store, c.doc.clientID)
        if (clock < slots) sent[base + clock] = target >= warmupEnd ? now() : -1
        c.text.insert(c.text.length, 'x')
        tick(k + 1)
      }, Math.max(0, target - now()))
    }
    tick(0)
  }

  await sleep(warmupEnd - now())
  const elu0 = performance.eventLoopUtilization()
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  counting.on = true
  await sleep(until - now())
  counting.on = false
  const elu = performance.eventLoopUtilization(elu0).utilization
  delay.disable()
  await sleep(DRAIN_MS)
  const out = lat.slice(0, n)
  parentPort.postMessage({ lat: out, frames, elu, lagP99: delay.percentile(99) / 1e6 }, [out.buffer])
  for (const c of clients) c.provider.destroy()
}
