// Bundles src/ into dist/: hashed assets (immutable), index.html and sw.js (no-cache), each file
// with .gz and .br siblings. Deterministic: fixed esbuild options, no timestamps, sorted output.
import * as esbuild from 'esbuild'
import { createHash } from 'node:crypto'
import { readFileSync, rmSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs'
import { gzipSync, brotliCompressSync, constants } from 'node:zlib'
import { join, relative } from 'node:path'

const here = new URL('.', import.meta.url).pathname
const dist = join(here, 'dist')
rmSync(dist, { recursive: true, force: true })
mkdirSync(join(dist, 'assets'), { recursive: true })

const result = await esbuild.build({
  entryPoints: [join(here, 'src/main.ts')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome111', 'firefox111', 'safari16'],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  sourcemap: false,
  metafile: true,
  charset: 'utf8',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
  absWorkingDir: here
})

const outputs = Object.keys(result.metafile.outputs).map((p) => '/' + relative(dist, join(here, p)).split('\\').join('/')).sort()
const js = outputs.filter((p) => p.endsWith('.js'))
const css = outputs.filter((p) => p.endsWith('.css'))

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mdz</title>
<meta name="csp-nonce" content="__CSP_NONCE__">
<link rel="icon" href="data:,">
${css.map((c) => `<link rel="stylesheet" href="${c}">`).join('\n')}
${js.map((j) => `<script type="module" src="${j}"></script>`).join('\n')}
</head>
<body>
<noscript>mdz needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`
writeFileSync(join(dist, 'index.html'), html)

// The service worker keeps the app shell on the device, so a reload while offline still opens
// the app (the documents themselves are in IndexedDB). Its cache name changes with the bundle.
const version = createHash('sha256').update(html).digest('hex').slice(0, 16)
const sw = readFileSync(join(here, 'src/sw.js'), 'utf8')
  .replace('__VERSION__', version)
  .replace('__ASSETS__', JSON.stringify(['/', ...outputs]))
writeFileSync(join(dist, 'sw.js'), sw)

const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, name.name)
    if (name.isDirectory()) walk(p)
    else files.push(p)
  }
}
walk(dist)
let firstLoad = 0
for (const f of files) {
  const data = readFileSync(f)
  const gz = gzipSync(data, { level: 9 })
  writeFileSync(f + '.gz', gz)
  writeFileSync(f + '.br', brotliCompressSync(data, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length }
  }))
  if (f.includes('/assets/') && (f.endsWith('.js') || f.endsWith('.css'))) firstLoad += gz.length
}
console.log(`web bundle: ${js.concat(css).join(', ')}; first load JS+CSS ${(firstLoad / 1024).toFixed(1)} KiB gzipped`)
