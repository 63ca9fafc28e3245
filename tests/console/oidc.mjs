// A real OIDC provider (npm oidc-provider) on loopback, for the console's sign-in tests.
//
// Usage: node oidc.mjs PORT
// Starts the issuer at http://127.0.0.1:PORT, signs in through its own login and consent
// screens (the authorization-code flow with PKCE, as a browser would), and prints one JSON line:
//   {"issuer": ..., "valid": ID token for "console", "shortLived": ID token that expires in 4 s,
//    "otherAudience": ID token for another client}
// then keeps serving discovery and JWKS until stdin closes.

import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
const issuer = `http://127.0.0.1:${port}`;
const redirect = 'http://127.0.0.1:1/callback';
let shortLived = false;

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'console', client_secret: 'console-secret', redirect_uris: [redirect], grant_types: ['authorization_code'], response_types: ['code'] },
    { client_id: 'other-app', client_secret: 'other-secret', redirect_uris: [redirect], grant_types: ['authorization_code'], response_types: ['code'] },
  ],
  claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  ttl: {
    IdToken: () => (shortLived ? 4 : 3600), Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 3600,
  },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, groups: id === 'alice' ? ['shop-devs'] : ['sre'] };
      },
    };
  },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));

// A minimal cookie jar and redirect walker: the provider's interaction screens set cookies.
function client() {
  const jar = new Map();
  async function go(url, init = {}) {
    const headers = { ...(init.headers || {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  return go;
}

async function idToken(clientId, secret, login) {
  const go = client();
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(`${issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: clientId, response_type: 'code', redirect_uri: redirect, scope: 'openid email groups',
    nonce: crypto.randomUUID(), state: 'st', code_challenge: challenge, code_challenge_method: 'S256',
  })) auth.searchParams.set(k, v);
  let res = await go(auth);
  for (let step = 0; step < 10; step += 1) {
    const location = res.headers.get('location');
    if (!location) throw new Error(`stuck at ${res.status}: ${await res.text()}`);
    const next = new URL(location, issuer);
    if (next.href.startsWith(redirect)) {
      const code = next.searchParams.get('code');
      const token = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier }),
      });
      const body = await token.json();
      if (!body.id_token) throw new Error(JSON.stringify(body));
      return body.id_token;
    }
    if (next.pathname.startsWith('/interaction/')) {
      const page = await go(next);
      const html = await page.text();
      const prompt = html.includes('name="password"') || html.includes('name="login"') ? 'login' : 'consent';
      const form = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
      res = await go(next, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      });
    } else {
      res = await go(next);
    }
  }
  throw new Error('too many redirects');
}

const valid = await idToken('console', 'console-secret', 'alice');
const otherAudience = await idToken('other-app', 'other-secret', 'alice');
shortLived = true;
const expiring = await idToken('console', 'console-secret', 'alice');
shortLived = false;
const sre = await idToken('console', 'console-secret', 'sam');

process.stdout.write(`${JSON.stringify({ issuer, valid, shortLived: expiring, otherAudience, sre })}\n`);
process.stdin.resume();
process.stdin.on('end', () => { server.close(); process.exit(0); });
