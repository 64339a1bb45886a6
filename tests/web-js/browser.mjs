// The web app in a real browser: playwright-core driving the OS chromium (one instance, one
// context per person). Usage: node browser.mjs <base-url>. Prints `ok - …` per scenario and
// `measure: …` lines; exits non-zero on the first failure.
import { chromium } from 'playwright-core'
import AxeBuilder from '@axe-core/playwright'
import assert from 'node:assert/strict'
import { get } from 'node:http'
import { editor, synced, pct, openSynced, keystrokeLatency } from './measure.mjs'

const base = process.argv[2]
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium'
const PASSWORD = 'violet-harbour-42'
const WAIT = 10_000
const log = (...a) => console.log(...a)

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
const timer = setTimeout(() => { console.error('browser tests: overall timeout'); process.exit(2) }, 290_000)

/** One person: a context of their own, a page, dialogs recorded (none may fire). */
async function person (name) {
  const context = await browser.newContext({ baseURL: base })
  context.setDefaultTimeout(WAIT)
  const page = await context.newPage()
  const dialogs = []
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
  page.on('pageerror', (e) => log(`[${name}] page error: ${e.message}`))
  // The page's CSP (no inline script, no eval, styles by nonce) must hold for the app itself.
  // Chromium also reports the inline handlers of hostile Markdown while DOMPurify parses it in
  // an inert document (a bare DOMParser does the same; they never run there): those are left
  // out, and the preview is checked for surviving handlers instead.
  const cspViolations = []
  page.on('console', (m) => {
    const text = m.text()
    if (/Content Security Policy/i.test(text) && !text.startsWith('Executing inline event handler')) cspViolations.push(text)
  })
  return { name, email: `${name.toLowerCase()}-${Date.now()}@example.com`, context, page, dialogs, cspViolations }
}

async function signUp (p) {
  await p.page.goto('/signup')
  await p.page.getByLabel('Name').fill(p.name)
  await p.page.getByLabel('Email').fill(p.email)
  await p.page.getByLabel('Password').fill(PASSWORD)
  await p.page.getByRole('button', { name: 'Create account' }).click()
  await p.page.getByRole('heading', { name: 'Projects' }).waitFor()
}

const editorText = (page) => editor(page).evaluate((el) => (el.cmTile?.root?.view ?? el.cmView?.view).state.doc.toString())
async function waitText (page, needle, timeout = WAIT) {
  await page.waitForFunction((n) => {
    const el = document.querySelector('.cm-content')
    return el && (el.cmTile?.root?.view ?? el.cmView?.view).state.doc.toString().includes(n)
  }, needle, { timeout })
}
const highlighted = (page) => page.locator('.cm-comment').evaluateAll((els) => els.map((e) => e.textContent).join(''))

async function restLogin (email) {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD })
  })
  assert.equal(res.status, 200)
  return (await res.json()).access_token
}

async function rest (token, path, init = {}) {
  const res = await fetch(`${base}/api/v1${path}`, {
    ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) }
  })
  const body = res.status === 204 ? null : await res.json()
  return { status: res.status, body }
}

async function until (what, fn, timeout = WAIT) {
  const end = Date.now() + timeout
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function axe (page, view) {
  // The documents' own content (an image without alt text in a user's Markdown) is the
  // author's, not the app's: the preview's children are left out of the scan.
  const result = await new AxeBuilder({ page }).exclude('.preview > *').analyze()
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => `${n.html} ${n.failureSummary}`).join('; ')})`), [], `axe on ${view}`)
}


let failed = false
const step = async (name, fn) => {
  if (failed) return
  try {
    await fn()
    log(`ok - ${name}`)
  } catch (e) {
    failed = true
    log(`not ok - ${name}\n${e.stack ?? e}`)
  }
}

const ada = await person('Ada')
const bob = await person('Bob')
const carol = await person('Carol')
const dave = await person('Dave')
let projectUrl, docUrl, fileId, projectId

await step('first load JS+CSS gzipped (printed)', async () => {
  const html = await (await fetch(`${base}/`)).text()
  let bytes = 0
  for (const m of html.matchAll(/"(\/assets\/[^"]+\.(?:js|css))"/g)) {
    bytes += await new Promise((resolve, reject) => {
      get(`${base}${m[1]}`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
        assert.equal(r.headers['content-encoding'], 'gzip')
        let n = 0
        r.on('data', (c) => { n += c.length })
        r.on('end', () => resolve(n))
      }).on('error', reject)
    })
  }
  log(`measure: first load JS+CSS ${(bytes / 1024).toFixed(1)} KiB gzipped (budget 300 KiB)`)
})

await step('sign-in view is accessible', async () => {
  await ada.page.goto('/')
  await ada.page.getByRole('button', { name: 'Sign in' }).waitFor()
  await axe(ada.page, 'sign in')
})

await step('sign up, create a project and a document; the editor syncs', async () => {
  await signUp(ada)
  await axe(ada.page, 'projects')
  await ada.page.getByRole('button', { name: 'New project' }).click()
  await ada.page.getByLabel('Project name').fill('Handbook')
  await ada.page.getByRole('button', { name: 'Create', exact: true }).click()
  await ada.page.getByRole('button', { name: 'New document' }).click()
  await ada.page.getByLabel('Path').fill('guide/intro.md')
  await ada.page.getByRole('button', { name: 'Create', exact: true }).click()
  await editor(ada.page).waitFor()
  await synced(ada.page)
  docUrl = new URL(ada.page.url()).pathname
  const m = docUrl.match(/^\/p\/([^/]+)\/f\/([^/]+)$/)
  assert.ok(m, docUrl)
  projectId = m[1]
  fileId = m[2]
  projectUrl = `/p/${projectId}`
  await ada.page.getByRole('link', { name: 'intro.md' }).waitFor()
  await axe(ada.page, 'editor')
})

await step('sign-out and sign-in again', async () => {
  await signUp(bob)
  await bob.page.getByRole('button', { name: 'Sign out' }).click()
  await bob.page.getByRole('button', { name: 'Sign in' }).waitFor()
  await bob.page.getByLabel('Email').fill(bob.email)
  await bob.page.getByLabel('Password').fill(PASSWORD)
  await bob.page.getByRole('button', { name: 'Sign in' }).click()
  await bob.page.getByRole('heading', { name: 'Projects' }).waitFor()
  // The refresh token is an HttpOnly cookie: page scripts cannot read it.
  assert.equal(await bob.page.evaluate(() => document.cookie), '')
  await signUp(carol)
  await signUp(dave)
})

await step('members: the owner adds an editor and a viewer', async () => {
  // Only verified addresses can be added: the Rust side follows every verification mail.
  for (const who of [bob, carol, dave]) {
    const token = await restLogin(who.email)
    await until(`${who.email} verified`, async () => (await rest(token, '/auth/me')).body.email_verified)
  }
  await ada.page.getByRole('button', { name: 'Members' }).click()
  const members = ada.page.getByRole('region', { name: 'Members' })
  for (const [who, role] of [[bob, 'editor'], [carol, 'viewer'], [dave, 'commenter']]) {
    await members.getByLabel('Email').fill(who.email)
    await members.getByLabel('Role').selectOption(role)
    await members.getByRole('button', { name: 'Add' }).click()
    await members.getByText(who.email).waitFor()
  }
  assert.equal(await members.getByLabel('Role').locator('option').count(), 5)
  await axe(ada.page, 'members')
})

await step('two people edit one document: text, cursors, preview, REST', async () => {
  log(`measure: navigation to an editable synced document ${await openSynced(bob.page, docUrl)} ms`)
  await editor(ada.page).click()
  await ada.page.keyboard.type('# Shared notes\n\nHello from Ada. ')
  await waitText(bob.page, 'Hello from Ada.', 1000)
  await editor(bob.page).click()
  await bob.page.keyboard.press('Control+End')
  await bob.page.keyboard.type('Bob was here.')
  await waitText(ada.page, 'Bob was here.', 1000)
  // Each sees the other's caret with their name, and the other in "People here".
  await ada.page.locator('.cm-ySelectionCaret').first().waitFor()
  await ada.page.getByLabel('People here').getByText('Bob').waitFor()
  await bob.page.getByLabel('People here').getByText('Ada').waitFor()
  await bob.page.getByRole('region', { name: 'Preview' }).getByRole('heading', { name: 'Shared notes' }).waitFor()
  // MDZ_SCREENSHOT=path: the README's picture of two people in one document.
  if (process.env.MDZ_SCREENSHOT) {
    await ada.page.setViewportSize({ width: 1280, height: 560 })
    await ada.page.evaluate(() => window.scrollTo(0, 0))
    await ada.page.screenshot({ path: process.env.MDZ_SCREENSHOT })
  }
  const token = await restLogin(ada.email)
  await until('the text in the REST API', async () => {
    const { body } = await rest(token, `/files/${fileId}`)
    return body.content.includes('Bob was here.') && body.content.includes('Hello from Ada.')
  })
})

await step('keystroke-to-remote-render latency over 200 keystrokes (printed)', async () => {
  const lat = await keystrokeLatency(ada.page, bob.page, 200)
  log(`measure: keystroke to remote render p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms (n=${lat.length})`)
})

await step('a viewer cannot type', async () => {
  await carol.page.goto(docUrl)
  await editor(carol.page).waitFor()
  await synced(carol.page)
  const before = await editorText(carol.page)
  assert.ok(before.includes('Bob was here.'))
  await editor(carol.page).click()
  await carol.page.keyboard.type('viewer text')
  await carol.page.waitForTimeout(300)
  assert.equal(await editorText(carol.page), before)
  assert.equal(await editor(carol.page).getAttribute('aria-readonly'), 'true')
  assert.equal(await carol.page.getByRole('button', { name: 'New document' }).count(), 0)
  const aText = await editorText(ada.page)
  assert.ok(!aText.includes('viewer text'))
  // Nothing the API would refuse: a viewer may not ask the AI (nor start a chat).
  await carol.page.getByRole('button', { name: 'Ask AI' }).click()
  const ai = carol.page.getByRole('region', { name: 'Ask AI' })
  await ai.getByText('Asking the AI needs the editor role').waitFor()
  assert.ok(await ai.getByRole('button', { name: 'Send' }).isDisabled())
  assert.equal(await ai.getByRole('button', { name: 'New conversation' }).count(), 0)
})

await step('a commenter comments on a selection but cannot type; the owner replies and resolves', async () => {
  await dave.page.goto(docUrl)
  await editor(dave.page).waitFor()
  await synced(dave.page)
  const before = await editorText(dave.page)
  await editor(dave.page).click()
  await dave.page.keyboard.type('commenter text')
  await dave.page.waitForTimeout(300)
  assert.equal(await editorText(dave.page), before)
  // Select the first line, then comment on it.
  await dave.page.keyboard.press('Control+Home')
  await dave.page.keyboard.press('Shift+End')
  await dave.page.getByRole('button', { name: 'Comments' }).click()
  const dPanel = dave.page.getByRole('region', { name: 'Comments' })
  // `@` offers the project's members; choosing one inserts the mention the server reads.
  const box = dPanel.getByLabel('Comment', { exact: true })
  await box.click()
  await dave.page.keyboard.type('@Ad')
  const suggestions = dPanel.getByRole('listbox', { name: 'Mention suggestions' })
  await suggestions.getByRole('option', { name: `Ada <${ada.email}>` }).waitFor()
  await axe(dave.page, 'mention completion')
  await dave.page.keyboard.press('Enter')
  assert.equal(await box.inputValue(), `@${ada.email} `)
  assert.ok(await suggestions.isHidden())
  await dave.page.keyboard.type('Is this the right title?')
  await dPanel.getByRole('button', { name: 'Add comment' }).click()
  await dPanel.getByText('Is this the right title?').waitFor()
  await dPanel.locator('blockquote').getByText('# Shared notes').waitFor()
  // The commented range is highlighted in the editor.
  await until('the highlight in the commenter\'s editor', async () => await highlighted(dave.page) === '# Shared notes')
  await axe(dave.page, 'comments')
  // The others here see the new highlight without asking (told through awareness).
  await until('the highlight in the owner\'s editor', async () => await highlighted(ada.page) === '# Shared notes')
  await ada.page.getByRole('button', { name: 'Comments' }).click()
  const aPanel = ada.page.getByRole('region', { name: 'Comments' })
  await aPanel.getByText('Is this the right title?').waitFor()
  await aPanel.getByRole('textbox', { name: 'Reply', exact: true }).fill('Yes, it is.')
  await aPanel.getByRole('button', { name: 'Send reply' }).click()
  await aPanel.getByRole('list', { name: 'Replies' }).getByText('Yes, it is.').waitFor()
  // Resolved threads are not highlighted; reopened ones are again.
  await aPanel.getByRole('button', { name: 'Resolve' }).click()
  await aPanel.getByRole('button', { name: 'Reopen' }).waitFor()
  await until('no highlight once resolved', async () => await highlighted(ada.page) === '')
  // The commenter's open panel catches up with the reply and the resolution.
  await dPanel.getByRole('list', { name: 'Replies' }).getByText('Yes, it is.').waitFor()
  await dPanel.getByText('(resolved)').waitFor()
  await until('no highlight for the commenter either', async () => await highlighted(dave.page) === '')
  await aPanel.getByRole('button', { name: 'Reopen' }).click()
  await aPanel.getByRole('button', { name: 'Resolve' }).waitFor()
  await until('the highlight back once reopened', async () => await highlighted(ada.page) === '# Shared notes')
  // A click on the highlight (panel closed) opens its thread, focused.
  await ada.page.reload()
  await synced(ada.page)
  await until('the highlight after a reload', async () => await highlighted(ada.page) === '# Shared notes')
  assert.equal(await ada.page.getByRole('region', { name: 'Comments' }).count(), 0)
  await ada.page.locator('.cm-comment').last().click()
  await ada.page.waitForFunction(() => document.activeElement?.matches('.thread[aria-current]') &&
    document.activeElement.textContent.includes('Is this the right title?'))
  await aPanel.getByRole('list', { name: 'Replies' }).getByText('Yes, it is.').waitFor()
  // And back, by keyboard: the thread selects its text in the editor.
  await ada.page.keyboard.press('Tab')
  assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent), 'Show in text')
  await ada.page.keyboard.press('Enter')
  await ada.page.waitForFunction(() => {
    const view = document.querySelector('.cm-content')?.cmTile?.root?.view ?? document.querySelector('.cm-content')?.cmView?.view
    const { from, to } = view.state.selection.main
    return view.hasFocus && view.state.sliceDoc(from, to) === '# Shared notes'
  })
  // The viewer sees the thread but is offered no comment form.
  await carol.page.getByRole('button', { name: 'Comments' }).click()
  await carol.page.getByRole('region', { name: 'Comments' }).getByText('Yes, it is.').waitFor()
  assert.equal(await carol.page.getByRole('button', { name: 'Add comment' }).count(), 0)
  // The mention reached Ada's notifications; opening it opens the document.
  await ada.page.getByRole('link', { name: 'Notifications' }).click()
  await ada.page.getByRole('listitem').filter({ hasText: 'You were mentioned' }).getByText('Is this the right title?').waitFor()
  await axe(ada.page, 'notifications')
  await ada.page.getByRole('link', { name: 'You were mentioned' }).first().click()
  await editor(ada.page).waitFor()
  assert.ok(ada.page.url().endsWith(docUrl))
  await synced(ada.page)
})

await step('hostile Markdown is inert in the preview and in search snippets', async () => {
  const payload = '\n\n<img src=x onerror=alert(1)> <script>alert(2)</script> [click me](javascript:alert(3)) <a href="javascript:alert(4)">raw link</a> zebrafish\n'
  await editor(ada.page).click()
  await ada.page.keyboard.press('Control+End')
  await ada.page.keyboard.insertText(payload)
  const preview = ada.page.getByRole('region', { name: 'Preview' })
  await preview.getByText('raw link').waitFor()
  await ada.page.waitForTimeout(300)
  for (const p of [ada.page, bob.page]) {
    await waitText(p, 'zebrafish')
    const probe = await p.getByRole('region', { name: 'Preview' }).evaluate((el) => ({
      scripts: el.querySelectorAll('script').length,
      handlers: [...el.querySelectorAll('*')].filter((n) => [...n.attributes].some((a) => a.name.startsWith('on'))).length,
      jsLinks: [...el.querySelectorAll('a')].filter((a) => (a.getAttribute('href') ?? '').toLowerCase().includes('javascript:')).length
    }))
    assert.deepEqual(probe, { scripts: 0, handlers: 0, jsLinks: 0 })
    await p.getByRole('region', { name: 'Preview' }).getByText('raw link').click()
  }
  // Search: the server's snippet, with only <mark> surviving.
  const search = ada.page.getByRole('searchbox', { name: 'Search' })
  await until('a search hit', async () => {
    await search.fill('zebrafish')
    await search.press('Enter')
    await ada.page.waitForTimeout(200)
    return await ada.page.locator('.results mark').count() > 0
  })
  const res = await ada.page.locator('.results').evaluate((el) => ({
    scripts: el.querySelectorAll('script').length, imgs: el.querySelectorAll('img').length, marks: el.querySelectorAll('mark').length
  }))
  assert.equal(res.scripts, 0)
  assert.equal(res.imgs, 0)
  assert.ok(res.marks > 0)
  await axe(ada.page, 'search results')
  // The hit opens the document.
  await ada.page.locator('.results a').first().click()
  await editor(ada.page).waitFor()
  assert.equal(new URL(ada.page.url()).pathname, docUrl)
  // It opens at the hit: the searched word is selected.
  await ada.page.waitForFunction(() => {
    const el = document.querySelector('.cm-content')
    const view = el.cmTile?.root?.view ?? el.cmView?.view
    const { from, to } = view.state.selection.main
    return view.state.sliceDoc(from, to) === 'zebrafish'
  }, null, { timeout: WAIT })
  for (const p of [ada, bob, carol, dave]) assert.deepEqual(p.dialogs, [], `${p.name} saw a dialog`)
})

await step('offline: type, reload, come back: nothing lost, both converge', async () => {
  await synced(bob.page)
  // The service worker (the app shell offline) controls the page.
  await bob.page.waitForFunction(() => navigator.serviceWorker?.controller != null)
  log('  · service worker in control')
  await bob.context.setOffline(true)
  await bob.page.getByRole('status').filter({ hasText: 'Offline' }).waitFor()
  await editor(bob.page).click()
  await bob.page.keyboard.press('Control+End')
  await bob.page.keyboard.type(' Typed offline.')
  await bob.page.waitForTimeout(300) // IndexedDB write
  log('  · typed offline; reloading')
  await bob.page.reload()
  log('  · reloaded')
  await editor(bob.page).waitFor()
  await waitText(bob.page, 'Typed offline.')
  await bob.page.getByRole('status').filter({ hasText: 'Offline' }).waitFor()
  log('  · back online')
  await bob.context.setOffline(false)
  await synced(bob.page)
  await waitText(ada.page, 'Typed offline.')
  await until('both the same', async () => await editorText(ada.page) === await editorText(bob.page))
})

await step('history: versions, a diff, restore', async () => {
  // Bob rewrites the document over REST: a version by another author than the first one.
  const bobToken = await restLogin(bob.email)
  const saved = await rest(bobToken, `/files/${fileId}`, { method: 'PUT', body: JSON.stringify({ content: '# Rewritten by Bob\n' }) })
  assert.equal(saved.status, 200, JSON.stringify(saved.body))
  await waitText(ada.page, 'Rewritten by Bob')
  const token = await restLogin(ada.email)
  const versions = (await rest(token, `/files/${fileId}/versions`)).body.items
  assert.ok(versions.length >= 2, JSON.stringify(versions))
  const oldest = Math.min(...versions.map((v) => v.n))
  const first = (await rest(token, `/files/${fileId}/versions/${oldest}`)).body.content
  await ada.page.getByRole('button', { name: 'History' }).click()
  const history = ada.page.getByRole('region', { name: 'History' })
  await history.getByText(/ · Bob · /).first().waitFor()
  await history.getByRole('button', { name: 'Diff' }).first().click()
  await history.getByRole('region', { name: 'Diff' }).getByText('Rewritten by Bob').first().waitFor()
  await axe(ada.page, 'history')
  await history.getByRole('textbox', { name: `Label of v${oldest}`, exact: true }).fill('first draft')
  await history.getByRole('button', { name: `Save label of v${oldest}` }).click()
  await history.getByRole('status').filter({ hasText: `Labelled version ${oldest}.` }).waitFor()
  const labelled = (await rest(token, `/files/${fileId}/versions`)).body.items.find((v) => v.n === oldest)
  assert.equal(labelled.label, 'first draft')
  await history.getByRole('listitem').filter({ hasText: `v${oldest} ` }).getByRole('button', { name: 'Restore' }).click()
  await history.getByRole('status').filter({ hasText: `Restored version ${oldest}.` }).waitFor()
  await until('the restored text in both editors', async () =>
    await editorText(ada.page) === first && await editorText(bob.page) === first)
})

await step('suggestions: one proposed over REST is accepted in the panel; an AI edit streams into another, rejected', async () => {
  const bobToken = await restLogin(bob.email)
  const text = '# Plan\n\nThe cat sat.\n'
  const put = await rest(bobToken, `/files/${fileId}`, { method: 'PUT', body: JSON.stringify({ content: text }) })
  assert.equal(put.status, 200, JSON.stringify(put.body))
  await waitText(ada.page, 'The cat sat.')
  const from = text.indexOf('cat')
  const made = await rest(bobToken, `/files/${fileId}/suggestions`, {
    method: 'POST', body: JSON.stringify({ range: { from, to: from + 3, revision: put.body.revision }, proposed: 'dog', explanation: 'dogs sit better' })
  })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  await ada.page.getByRole('button', { name: 'Suggestions' }).click()
  const panel = ada.page.getByRole('region', { name: 'Suggestions' })
  const item = panel.getByRole('listitem', { name: /^Suggestion by Bob/ })
  await item.getByText('dogs sit better', { exact: false }).waitFor()
  assert.equal(await item.getByLabel('Replaces').innerText(), 'cat')
  assert.equal(await item.getByLabel('With').innerText(), 'dog')
  await axe(ada.page, 'suggestions')
  await item.getByRole('button', { name: 'Show in text' }).click()
  assert.equal(await editor(ada.page).evaluate((el) => {
    const view = (el.cmTile?.root?.view ?? el.cmView?.view)
    return view.state.sliceDoc(view.state.selection.main.from, view.state.selection.main.to)
  }), 'cat')
  await item.getByRole('button', { name: 'Accept' }).click()
  await waitText(ada.page, 'The dog sat.')
  await waitText(bob.page, 'The dog sat.')
  await panel.getByText('No open suggestions.').waitFor()
  const accepted = (await rest(bobToken, `/files/${fileId}/suggestions?status=accepted`)).body.items
  assert.ok(accepted.some((x) => x.id === made.body.id), JSON.stringify(accepted))

  // Live, from the project's event stream: Bob's next suggestion shows in Ada's open panel,
  // and his new document in her tree, without her doing anything.
  const saved = await until('the accepted text over REST', async () => {
    const { body } = await rest(bobToken, `/files/${fileId}`)
    return body.content.includes('The dog sat.') ? body : null
  })
  const at = saved.content.indexOf('sat')
  const second = await rest(bobToken, `/files/${fileId}/suggestions`, {
    method: 'POST', body: JSON.stringify({ range: { from: at, to: at + 3, revision: saved.revision }, proposed: 'stood' })
  })
  assert.equal(second.status, 201, JSON.stringify(second.body))
  await panel.getByLabel('With').getByText('stood', { exact: true }).waitFor()
  const doc = await rest(bobToken, `/projects/${projectId}/files`, { method: 'POST', body: JSON.stringify({ path: 'live/arrived.md', content: '# Arrived\n' }) })
  assert.equal(doc.status, 201, JSON.stringify(doc.body))
  await ada.page.getByRole('navigation', { name: 'Documents' }).getByRole('link', { name: 'arrived.md' }).waitFor()
  await panel.getByRole('listitem', { name: /^Suggestion by Bob/ }).getByRole('button', { name: 'Reject' }).click()
  await panel.getByText('No open suggestions.').waitFor()

  // The AI, asked about the whole document: its words stream in, then it is a suggestion.
  await panel.getByLabel('Ask AI to edit the selection (or the whole document)').fill('[slow] make it shorter')
  await panel.getByRole('button', { name: 'Suggest with AI' }).click()
  await panel.locator('.draft').getByText('one two', { exact: false }).waitFor()
  assert.ok(!(await panel.locator('.draft').innerText()).includes('ten'), 'the whole edit came at once')
  const ai = panel.getByRole('listitem', { name: /^Suggestion by AI/ })
  await ai.getByLabel('With').getByText('nine ten', { exact: false }).waitFor()
  await ai.getByRole('button', { name: 'Reject' }).click()
  await panel.getByText('No open suggestions.').waitFor()
  assert.equal(await editorText(ada.page), '# Plan\n\nThe dog sat.\n')
})

await step('Ask AI: a streamed answer with citations; no provider is said so', async () => {
  const token = await restLogin(ada.email)
  const made = await rest(token, `/projects/${projectId}/files`, { method: 'POST', body: JSON.stringify({ path: 'birds/penguins.md', content: '# Penguins\n\nPenguins live in Antarctica.\n' }) })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  await until('the new document in search', async () =>
    (await rest(token, `/projects/${projectId}/search?q=penguins`)).body.items.length > 0)
  await ada.page.getByRole('button', { name: 'Ask AI' }).click()
  const panel = ada.page.getByRole('region', { name: 'Ask AI' })
  await panel.getByLabel('Message').fill('[slow] Where do penguins live?')
  await panel.getByRole('button', { name: 'Send' }).click()
  const conversation = ada.page.getByRole('region', { name: 'Conversation' })
  // Streamed: the first pieces show before the last one arrives.
  await conversation.getByText('one two', { exact: false }).waitFor()
  assert.ok(!(await conversation.innerText()).includes('ten'), 'the whole answer came at once')
  await conversation.getByText('nine ten', { exact: false }).waitFor()
  await axe(ada.page, 'chat')
  // Regenerate: a second answer to the same question, streamed after the first.
  await panel.getByRole('button', { name: 'Regenerate' }).click()
  await until('a second answer', async () =>
    (await conversation.locator('.a').allInnerTexts()).filter((t) => t.includes('nine ten')).length === 2)
  await ada.page.getByRole('list', { name: 'Sources' }).first().getByRole('link', { name: 'birds/penguins.md' }).click()
  await waitText(ada.page, 'Penguins live in Antarctica.')
  // A server without a provider: the panel says so instead of failing.
  await ada.page.route('**/api/v1/chat/providers', (route) => route.fulfill({ json: { items: [], next_cursor: null } }))
  await ada.page.getByRole('button', { name: 'Ask AI' }).click()
  await conversation.getByText('No AI provider is configured').waitFor()
  assert.ok(await ada.page.getByRole('button', { name: 'Send' }).isDisabled())
  await ada.page.unroute('**/api/v1/chat/providers')
})

await step('Ask AI: an earlier chat reopens with its sources and goes on; New conversation', async () => {
  const token = await restLogin(ada.email)
  const sessions = async () => (await rest(token, `/projects/${projectId}/sessions`)).body.items
  const before = await sessions()
  assert.equal(before.length, 1, JSON.stringify(before))
  await ada.page.getByRole('button', { name: 'Ask AI' }).click()
  const panel = ada.page.getByRole('region', { name: 'Ask AI' })
  const conversation = ada.page.getByRole('region', { name: 'Conversation' })
  const earlier = panel.getByRole('list', { name: 'Earlier chats' })
  await earlier.getByRole('button', { name: '[slow] Where do penguins live?' }).click()
  await conversation.getByText('[slow] Where do penguins live?').waitFor()
  await conversation.getByText('nine ten', { exact: false }).first().waitFor()
  await conversation.getByRole('list', { name: 'Sources' }).first().getByRole('link', { name: 'birds/penguins.md' }).waitFor()
  await axe(ada.page, 'an earlier chat')
  // It goes on in the same session.
  await panel.getByLabel('Message').fill('And what do they eat?')
  await panel.getByRole('button', { name: 'Send' }).click()
  await until('the follow-up answered', async () =>
    (await conversation.locator('.a').allInnerTexts()).some((t) => t.includes('Hello world')))
  const messages = (await rest(token, `/sessions/${before[0].id}/messages`)).body.items
  assert.ok(messages.some((m) => m.role === 'user' && m.content === 'And what do they eat?'), JSON.stringify(messages))
  assert.equal((await sessions()).length, 1)
  // A new conversation: an empty one, a session of its own, listed with the others.
  await panel.getByRole('button', { name: 'New conversation' }).click()
  assert.equal(await conversation.locator('.q, .a').count(), 0)
  await panel.getByLabel('Message').fill('A fresh question')
  await panel.getByRole('button', { name: 'Send' }).click()
  await conversation.getByText('Hello world').waitFor()
  await earlier.getByRole('button', { name: 'A fresh question' }).waitFor()
  assert.equal((await sessions()).length, 2)
  // Cancel: a slow answer stops where it was, and the server keeps it as cancelled.
  const fresh = (await sessions()).find((x) => x.title === 'A fresh question')
  await panel.getByLabel('Message').fill('[slow] Count slowly')
  await panel.getByRole('button', { name: 'Send' }).click()
  await until('the slow answer started', async () => (await conversation.locator('.a').last().innerText()).includes('one two'))
  await panel.getByRole('button', { name: 'Cancel' }).click()
  await until('the answer cancelled', async () => (await rest(token, `/sessions/${fresh.id}/messages`)).body.items
    .some((m) => m.role === 'assistant' && m.status === 'cancelled'))
  await ada.page.waitForTimeout(1600) // longer than the rest of the slow answer would take
  assert.ok(!(await conversation.locator('.a').last().innerText()).includes('ten'), 'the answer went on after Cancel')
  assert.ok(await panel.getByRole('button', { name: 'Send' }).isEnabled())
})

await step('a pasted image uploads and shows in the preview', async () => {
  await editor(ada.page).click()
  await ada.page.keyboard.press('Control+End')
  await editor(ada.page).evaluate((el) => {
    // A 1×1 PNG.
    const b64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const data = new DataTransfer()
    data.items.add(new File([bytes], 'dot.png', { type: 'image/png' }))
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
  })
  await waitText(ada.page, '![dot.png](/api/v1/attachments/')
  await ada.page.waitForFunction(() => {
    const img = document.querySelector('.preview img[alt="dot.png"]')
    return img && img.complete && img.naturalWidth === 1
  }, null, { timeout: WAIT })
  await bob.page.goto(new URL(ada.page.url()).pathname)
  await bob.page.waitForFunction(() => {
    const img = document.querySelector('.preview img[alt="dot.png"]')
    return img && img.complete && img.naturalWidth === 1
  }, null, { timeout: WAIT })
})

await step('documents: rename/move, trash, restore; the project: rename, delete, restore', async () => {
  const page = ada.page
  await page.getByRole('button', { name: 'Rename', exact: true }).click()
  await page.getByLabel('New path').fill('birds/antarctic/penguins.md')
  await page.getByRole('button', { name: 'Move', exact: true }).click()
  await page.getByRole('heading', { name: 'birds/antarctic/penguins.md' }).waitFor()
  await page.getByRole('navigation', { name: 'Documents' }).getByText('antarctic/').waitFor()
  await page.getByRole('button', { name: 'Move to trash' }).click()
  await page.waitForURL((u) => u.pathname === projectUrl)
  assert.equal(await page.getByRole('link', { name: 'penguins.md' }).count(), 0)
  await page.getByRole('button', { name: 'Trash', exact: true }).click()
  await axe(page, 'trash')
  await page.getByRole('button', { name: 'Restore birds/antarctic/penguins.md' }).click()
  await waitText(page, 'Penguins live in Antarctica.')
  await page.getByRole('link', { name: 'penguins.md' }).waitFor()

  await page.getByRole('button', { name: 'Rename project' }).click()
  await page.getByRole('form', { name: 'Rename project' }).getByLabel('Project name').fill('Team handbook')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.getByRole('heading', { name: 'Team handbook' }).waitFor()
  await page.getByRole('button', { name: 'Delete project' }).click()
  await page.getByRole('heading', { name: 'Projects' }).waitFor()
  await page.getByRole('status').getByText('Deleted “Team handbook”').waitFor()
  assert.equal(await page.getByRole('link', { name: 'Team handbook' }).count(), 0)
  await page.getByRole('button', { name: 'Restore project' }).click()
  await page.getByRole('heading', { name: 'Team handbook' }).waitFor()
})

await step('an invitation link brings a new person into the project', async () => {
  const erin = await person('Erin')
  await signUp(erin)
  await ada.page.goto(projectUrl)
  await ada.page.getByRole('button', { name: 'Members' }).click()
  const invite = ada.page.getByRole('region', { name: 'Invitations' })
  await invite.getByLabel('Invited as').selectOption('commenter')
  await invite.getByRole('button', { name: 'Create invitation link' }).click()
  const link = await invite.getByLabel('Invitation link').inputValue()
  assert.match(link, /\/invite\/[A-Za-z0-9_-]+$/)
  await axe(ada.page, 'invitations')
  await erin.page.goto(new URL(link).pathname)
  await erin.page.getByRole('button', { name: 'Accept invitation' }).click()
  await erin.page.waitForURL((u) => u.pathname === projectUrl)
  await erin.page.getByText('Your role: commenter').waitFor()
  // The owner changes Erin's access, then removes her.
  await ada.page.reload()
  await ada.page.getByRole('button', { name: 'Members' }).click()
  const members = ada.page.getByRole('region', { name: 'Members' })
  await members.getByLabel('Access of Erin').selectOption('viewer')
  await members.getByRole('listitem').filter({ hasText: `${erin.email}> — viewer` }).waitFor()
  await members.getByRole('button', { name: 'Remove Erin' }).click()
  await until('Erin gone', async () => await members.getByText(erin.email).count() === 0)
  const token = await restLogin(erin.email)
  assert.equal((await rest(token, `/projects/${projectId}`)).status, 404)
  await erin.context.close()
})

await step('settings: a personal access token shown once, then revoked; devices listed', async () => {
  await ada.page.getByRole('link', { name: 'Settings' }).click()
  await ada.page.getByLabel('Token name').fill('VS Code')
  await ada.page.getByRole('button', { name: 'Create token' }).click()
  const value = await ada.page.getByLabel('New token value').inputValue()
  assert.ok(value.startsWith('mdz_'), value)
  const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${value}` } })
  assert.equal(me.status, 200)
  await ada.page.getByRole('region', { name: 'Signed-in devices' }).getByText('this device').waitFor()
  await axe(ada.page, 'settings')
  await ada.page.getByRole('button', { name: 'Revoke VS Code' }).click()
  await ada.page.getByText('No tokens.').waitFor()
  const after = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${value}` } })
  assert.equal(after.status, 401)
  // Mention mails: on by default, turned off here, and the server keeps it.
  const box = ada.page.getByLabel(/Mail me when someone @mentions me/)
  await until('the mention setting loaded', async () => await box.isChecked())
  await box.uncheck()
  const token = await restLogin(ada.email)
  await until('mention mails off on the server', async () => (await rest(token, '/auth/me')).body.mention_mails === false)
})

await step('search across all projects: safe snippets, only my projects, the hit opens', async () => {
  const token = await restLogin(ada.email)
  const made = await rest(token, '/projects', { method: 'POST', body: JSON.stringify({ name: 'Zoo' }) })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  const zoo = made.body.id
  const doc = await rest(token, `/projects/${zoo}/files`, {
    method: 'POST',
    body: JSON.stringify({ path: 'otters.md', content: '# Otters\n\n<img src=x onerror=alert(5)> Otters hold hands, says the quokka. <script>alert(6)</script>\n' })
  })
  assert.equal(doc.status, 201, JSON.stringify(doc.body))
  // Another person's project with the same word: not Ada's to find.
  const bobToken = await restLogin(bob.email)
  const other = await rest(bobToken, '/projects', { method: 'POST', body: JSON.stringify({ name: 'Private' }) })
  const hidden = await rest(bobToken, `/projects/${other.body.id}/files`, { method: 'POST', body: JSON.stringify({ path: 'secret.md', content: 'the quokka secret\n' }) })
  assert.equal(hidden.status, 201)
  await until('both in search', async () =>
    (await rest(token, '/search?q=quokka')).body.items.length > 0 && (await rest(bobToken, '/search?q=quokka')).body.items.length > 0)
  await ada.page.goto('/')
  await ada.page.getByRole('link', { name: 'Search all projects' }).click()
  const box = ada.page.getByRole('searchbox', { name: 'Search all projects' })
  await box.fill('quokka')
  await box.press('Enter')
  const results = ada.page.getByRole('list', { name: 'Results in all projects' })
  await results.getByRole('link', { name: 'otters.md' }).waitFor()
  await results.getByText('in Zoo').waitFor()
  assert.equal(await results.getByRole('link', { name: 'secret.md' }).count(), 0)
  const probe = await results.evaluate((el) => ({
    scripts: el.querySelectorAll('script').length, imgs: el.querySelectorAll('img').length, marks: el.querySelectorAll('mark').length
  }))
  assert.equal(probe.scripts, 0)
  assert.equal(probe.imgs, 0)
  assert.ok(probe.marks > 0)
  await axe(ada.page, 'search everywhere')
  await results.getByRole('link', { name: 'otters.md' }).click()
  await editor(ada.page).waitFor()
  assert.equal(new URL(ada.page.url()).pathname, `/p/${zoo}/f/${doc.body.id}`)
  await ada.page.waitForFunction(() => {
    const el = document.querySelector('.cm-content')
    const view = el?.cmTile?.root?.view ?? el?.cmView?.view
    if (!view) return false
    const { from, to } = view.state.selection.main
    return view.state.sliceDoc(from, to).toLowerCase() === 'quokka'
  }, null, { timeout: WAIT })
  // Back: the search is kept in the address, so the results come again.
  await ada.page.goBack()
  await results.getByRole('link', { name: 'otters.md' }).waitFor()
  assert.deepEqual(ada.dialogs, [])
})

/** The token of the newest `kind` mail to `email` (the test's mailbox file, see web_browser.rs). */
async function mailToken (email, kind) {
  const { readFile } = await import('node:fs/promises')
  return until(`a ${kind} mail to ${email}`, async () => {
    try {
      return JSON.parse(await readFile(process.env.MDZ_MAILBOX, 'utf8'))[email]?.[kind]
    } catch { return undefined }
  })
}

let eve
await step('mails\' pages: confirm the address, forgot password, reset, sign in with the new one', async () => {
  // A `mailbox-` address is not verified by the test runner: its mails reach this script.
  eve = await person('Mailbox')
  await signUp(eve)
  await eve.page.getByRole('link', { name: 'Settings' }).click()
  await eve.page.getByText('not confirmed yet').waitFor()
  await eve.page.getByRole('button', { name: 'Send the link again' }).click()
  await eve.page.getByText('A new link is on its way').waitFor()
  const first = await mailToken(eve.email, 'verify-email')
  await eve.page.goto(`/verify-email?token=${first}`)
  await eve.page.getByText('Your e-mail address is confirmed.').waitFor()
  await axe(eve.page, 'verify e-mail')
  await eve.page.goto(`/verify-email?token=${first}`)
  await eve.page.getByText('This link does not work').waitFor()

  await eve.page.goto('/settings')
  await eve.page.getByRole('button', { name: 'Sign out' }).click()
  await eve.page.getByRole('link', { name: 'Forgot your password?' }).click()
  await eve.page.getByLabel('Email').fill(eve.email)
  await eve.page.getByRole('button', { name: 'Send me a link' }).click()
  await eve.page.getByText('If an account has this address').waitFor()
  await axe(eve.page, 'forgot password')
  const reset = await mailToken(eve.email, 'password-reset')
  await eve.page.goto(`/reset-password?token=${reset}`)
  const fresh = 'copper-meadow-318'
  await eve.page.getByLabel('New password', { exact: true }).fill(fresh)
  await eve.page.getByLabel('New password again').fill(fresh + 'x')
  await eve.page.getByRole('button', { name: 'Set password' }).click()
  await eve.page.getByText('The two passwords differ.').waitFor()
  await eve.page.getByLabel('New password again').fill(fresh)
  await eve.page.getByRole('button', { name: 'Set password' }).click()
  await eve.page.getByRole('heading', { name: 'Password changed' }).waitFor()
  await axe(eve.page, 'reset password')
  await eve.page.getByRole('link', { name: 'Sign in' }).click()
  await eve.page.getByLabel('Email').fill(eve.email)
  await eve.page.getByLabel('Password').fill(fresh)
  await eve.page.getByRole('button', { name: 'Sign in' }).click()
  await eve.page.getByRole('heading', { name: 'Projects' }).waitFor()
  assert.deepEqual(eve.dialogs, [])
})

await step('the app ran without breaking its own Content Security Policy', async () => {
  for (const p of [ada, bob, carol, dave, eve].filter(Boolean)) assert.deepEqual(p.cspViolations, [], `${p.name}'s page`)
})

clearTimeout(timer)
await browser.close()
process.exit(failed ? 1 : 0)
