// mdz service worker: the app shell offline. Navigations go to the network first and fall back
// to the cached shell; hashed assets come from the cache. The API is never touched.
const CACHE = 'mdz-96194787f174c30d'
const ASSETS = ["/","/assets/main-7NVDDPPW.css","/assets/main-SX5PH7LF.js"]
const RESERVED = ['/api', '/docs', '/health', '/metrics', '/.well-known', '/mcp']

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('mdz-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  )
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  if (RESERVED.some((p) => url.pathname === p || url.pathname.startsWith(p + '/'))) return
  if (req.mode === 'navigate') {
    event.respondWith(fetch(req).catch(() => caches.match('/', { cacheName: CACHE }).then((r) => r || Response.error())))
  } else if (url.pathname.startsWith('/assets/')) {
    event.respondWith(caches.match(req, { cacheName: CACHE }).then((r) => r || fetch(req)))
  }
})
