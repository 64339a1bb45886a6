// Measurements shared by the browser test (browser.mjs) and the web benchmark (latency.mjs):
// how long a document takes to open editable and synced, and how long a keystroke in one
// browser takes to render in another. They print; nothing here asserts a time.

export const editor = (page) => page.getByRole('textbox', { name: 'Editor' })

export async function synced (page) {
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor()
}

export const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]

/** Milliseconds from navigating `page` to `url` until its editor is shown and synced. */
export async function openSynced (page, url) {
  const started = Date.now()
  await page.goto(url)
  await editor(page).waitFor()
  await synced(page)
  return Date.now() - started
}

/**
 * Latency of `n` keystrokes typed in `from` until each renders in `to` (both showing the same
 * document), in ms. Keys are paced like a fast typist (about 25 a second): back-to-back keys
 * would measure the queue behind them, not the latency of one keystroke.
 */
export async function keystrokeLatency (from, to, n = 200) {
  await to.evaluate(() => {
    window.__renders = []
    const el = document.querySelector('.cm-content')
    const view = el.cmTile?.root?.view ?? el.cmView?.view
    const count = () => (view.state.doc.toString().match(/~/g) ?? []).length
    let seen = count()
    new MutationObserver(() => {
      const c = count()
      while (seen < c) { seen++; window.__renders.push(performance.timeOrigin + performance.now()) }
    }).observe(el, { childList: true, subtree: true, characterData: true })
  })
  await from.evaluate(() => {
    window.__keys = []
    document.addEventListener('keydown', (e) => { if (e.key === '~') window.__keys.push(performance.timeOrigin + performance.now()) }, true)
  })
  await editor(from).click()
  await from.keyboard.press('Control+End')
  for (let i = 0; i < n; i++) {
    await from.keyboard.type('~')
    await from.waitForTimeout(40)
  }
  await to.waitForFunction((c) => window.__renders.length >= c, n)
  const keys = await from.evaluate(() => window.__keys)
  const renders = await to.evaluate(() => window.__renders)
  return keys.map((k, i) => renders[i] - k)
}
