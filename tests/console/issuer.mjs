// A real OIDC issuer (npm oidc-provider) for people signing in through a browser, on the node
// tier's bridge address so that both the host's Chromium and Pods (oauth2-proxy) reach it.
//
// Usage: node issuer.mjs HOST REDIRECT_URI POST_LOGOUT_URI
// Prints one JSON line {"issuer": ...} once it listens, then serves until stdin closes. Its own
// login and consent screens (devInteractions) take any password; alice is in group shop-devs,
// everyone else in sre. One client: console / console-secret. Logout (end_session) asks the user
// to confirm, as the provider does by default.

import http from 'node:http';
import Provider from 'oidc-provider';

const [host, redirect, postLogout] = process.argv.slice(2);
const server = http.createServer();
await new Promise((resolve) => server.listen(0, host, resolve));
const issuer = `http://${host}:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'console',
    client_secret: 'console-secret',
    redirect_uris: [redirect],
    post_logout_redirect_uris: [postLogout],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
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
server.on('request', provider.callback());

console.log(JSON.stringify({ issuer }));
// The test reads that one line and closes its end: the provider's own notices go to stderr.
console.log = console.info = (...args) => process.stderr.write(`${args.join(' ')}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
