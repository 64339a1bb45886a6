// The web benchmark's run (scripts/bench-web.sh): two people in two browser contexts open one
// document; prints how long each took from navigation to an editable synced document, and the
// latency of 200 paced keystrokes from one to the other's screen, as one line:
//   web: open-first MS open-second MS p50 MS p99 MS n N
// Usage: node latency.mjs <base-url>. Asserts nothing about time.
import { chromium } from 'playwright-core'
import { pct, openSynced, keystrokeLatency } from './measure.mjs'

const base = process.argv[2]
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium'
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
const timer = setTimeout(() => { console.error('web benchmark: overall timeout'); process.exit(2) }, 120_000)

/** A new account signed in the way the app signs in (the refresh token in its cookie). */
async function person (name) {
  const context = await browser.newContext({ baseURL: base })
  const email = `${name}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.com`
  const res = await context.request.post('/api/v1/auth/register', {
    headers: { 'x-mdz-auth': 'cookie' },
    data: { email, password: 'violet-harbour-42', display_name: name }
  })
  if (!res.ok()) throw new Error(`register: ${res.status()} ${await res.text()}`)
  const { access_token: token } = await res.json()
  return { context, email, token, page: await context.newPage() }
}

async function rest (who, path, data) {
  const res = await who.context.request.post(`/api/v1${path}`, { headers: { authorization: `Bearer ${who.token}` }, data })
  if (!res.ok()) throw new Error(`${path}: ${res.status()} ${await res.text()}`)
  return res.json()
}

const ada = await person('Ada')
const bob = await person('Bob')
const project = (await rest(ada, '/projects', { name: 'Bench' })).id
// A link invitation: adding a member by e-mail needs a verified address, and these are new.
const { token } = await rest(ada, `/projects/${project}/invitations`, { role: 'editor' })
await rest(bob, `/invitations/${token}/accept`, {})
const file = (await rest(ada, `/projects/${project}/files`, { path: 'notes.md', content: '# Notes\n\n' })).id
const url = `/p/${project}/f/${file}`
const first = await openSynced(ada.page, url)
const second = await openSynced(bob.page, url)
const lat = await keystrokeLatency(ada.page, bob.page, 200)
console.log(`web: open-first ${first} open-second ${second} p50 ${pct(lat, 0.5).toFixed(2)} p99 ${pct(lat, 0.99).toFixed(2)} n ${lat.length}`)
clearTimeout(timer)
await browser.close()
