// A real OpenID Connect provider for the single sign-on tests (tests/e2e/sso.rs), with the npm
// `oidc-provider` package: discovery, JWKS (a fresh RSA key per run), the authorization code
// flow with PKCE, ID tokens and user info, as a deployment's provider does.
//
// Listens on 127.0.0.1 (a free port), prints `{"issuer": "http://127.0.0.1:PORT"}` on its first
// line, and serves until stdin closes. One static client: `mdz` / `mdz-secret`, a native
// application so that any loopback port's `/api/v1/auth/oidc/callback` is a registered
// redirect (RFC 8252), whatever port the test's mdz got.
//
// Nobody types anything: the interaction (login and consent) finishes by itself, for the person
// the test names in `login_hint` (added to the authorization URL):
//   `sub|email|verified|name`  signs in `sub` with those claims (verified: `true`/`false`);
//   `deny`                     ends the interaction with `access_denied`.
import http from 'node:http'
import crypto from 'node:crypto'
import Provider from 'oidc-provider'

const people = new Map()
// stdout carries the issuer line only (the test stops reading after it); oidc-provider's own
// notices go to stderr with the rest.
console.log = console.error
console.info = console.error

const server = http.createServer()
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const issuer = `http://127.0.0.1:${server.address().port}`

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' }

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'mdz',
    client_secret: 'mdz-secret',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/api/v1/auth/oidc/callback'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic'
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount (ctx, sub) {
    const person = people.get(sub)
    if (!person) return undefined
    return { accountId: sub, claims: async () => ({ sub, ...person }) }
  }
})
provider.on('server_error', (ctx, err) => console.error('provider error:', err))

async function interaction (req, res) {
  const details = await provider.interactionDetails(req, res)
  const hint = details.params.login_hint ?? ''
  if (hint === 'deny') {
    return provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the test said no' }, { mergeWithLastSubmission: false })
  }
  const [sub, email, verified, name] = hint.split('|')
  if (!sub) throw new Error(`login_hint must be sub|email|verified|name, not ${JSON.stringify(hint)}`)
  people.set(sub, { email, email_verified: verified === 'true', name })
  const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id })
  grant.addOIDCScope(String(details.params.scope))
  const grantId = await grant.save()
  return provider.interactionFinished(req, res,
    { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false })
}

const handle = provider.callback()
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction failed:', err)
      res.statusCode = 500
      res.end(String(err))
    })
  } else {
    handle(req, res)
  }
})

process.stdout.write(JSON.stringify({ issuer }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
