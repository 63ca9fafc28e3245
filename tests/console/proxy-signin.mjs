// Signing in to the console through oauth2-proxy, in Debian's Chromium (playwright-core), as a
// person does: the console's address, the issuer's login and consent screens, the pages, Logout.
//
// Usage: node proxy-signin.mjs CONSOLE_HOST CONSOLE_IP USER
// CONSOLE_HOST is the name the proxy's redirect URL uses; Chromium resolves it to CONSOLE_IP
// (the console Service's address) as DNS would. Prints one JSON line:
//   {"overview": text, "releases": text, "loggedOutAt": URL, "afterLogout": URL}

import { chromium } from 'playwright-core';

const [host, ip, user] = process.argv.slice(2);
const base = `http://${host}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--host-resolver-rules=MAP ${host} ${ip}`,
  ],
});
const out = {};
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(30000);
  // Not signed in: the proxy sends the browser to the issuer's login screen.
  await page.goto(`${base}/console`);
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  // The consent screen, the first time this user meets the client.
  if (await page.locator('button[type=submit]').count()) {
    await page.click('button[type=submit]');
  }
  await page.waitForURL(`${base}/console**`);
  out.overview = await page.innerText('body');
  await page.goto(`${base}/console/releases`);
  out.releases = await page.innerText('body');
  // Logout, from the account menu as a person would find it.
  await page.goto(`${base}/console`);
  await page.click('details.account summary');
  await page.click('details.account .menu a.logout');
  await page.waitForLoadState();
  // The issuer asks before it ends its session.
  const confirm = page.locator('button[type=submit], button:has-text("Yes")');
  if (await confirm.count()) {
    await confirm.first().click();
    await page.waitForLoadState();
  }
  out.loggedOutAt = page.url();
  // Signed out at the proxy and at the issuer: the console asks for a login again.
  await page.goto(`${base}/console`);
  await page.waitForLoadState();
  out.afterLogout = page.url();
  out.afterLogoutHasLogin = (await page.locator('input[name=login]').count()) > 0;
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
