// The console in a real browser: Debian's Chromium driven by playwright-core.
//
// Usage: node browser.mjs BASE_URL OUT_DIR
// The console runs behind an auth proxy (identity headers from loopback). For a desktop and a
// phone width: every page loads with a heading and no console error, nothing scrolls sideways
// (on a phone tables are cards and every Why is in view); the account menu opens and
// shows Logout; Logout signs out. Hostile strings render as text (no dialog ever opens).
// Screenshots go to OUT_DIR. Exit 0 when every check holds; the failures are printed otherwise.

import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });

const pages = [
  ['overview', '/console', 'Overview'],
  ['releases', '/console/releases', 'Releases'],
  ['truth-screen', '/console/releases/shop/checkout-production-2-3-1', 'checkout 2.3.1'],
  ['gate', '/console/gate', 'Gate'],
  ['policy-builder', '/console/gate/builder?name=prod-gate&environments=production&workload=on&ci=on&approvals=1&weekend_freeze=on', 'Policy builder'],
  ['radar', '/console/radar', 'Radar'],
  ['metrics', '/console/metrics', 'Metrics'],
  ['integrations', '/console/integrations', 'Integrations'],
  ['reports', '/console/reports', 'Reports'],
  ['settings', '/settings', 'Settings'],
  ['hostile', '/console/releases/shop/web-1-0-0', '<script>alert(1)</script>'],
];
const widths = [
  ['desktop', { width: 1280, height: 900 }],
  ['mobile', { width: 390, height: 844 }],
];

const failures = [];
const fail = (what) => { failures.push(what); console.error(`FAIL ${what}`); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

try {
  for (const [label, viewport] of widths) {
    const context = await browser.newContext({
      viewport,
      extraHTTPHeaders: { 'X-Forwarded-User': 'alice@example.test', 'X-Forwarded-Groups': 'sre' },
    });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', async (d) => { fail(`${label}: a dialog opened (${d.message()}): script ran`); await d.dismiss(); });

    for (const [name, path, heading] of pages) {
      const response = await page.goto(base + path);
      if (!response || response.status() !== 200) { fail(`${label} ${path}: status ${response && response.status()}`); continue; }
      const h1 = (await page.locator('h1').first().textContent()) || '';
      if (!h1.includes(heading)) fail(`${label} ${path}: heading "${h1}" lacks "${heading}"`);
      // Nothing may overflow the viewport sideways (tables scroll inside their own box).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`${label} ${path}: page is ${overflow}px wider than the viewport`);
      // Nothing scrolls sideways inside the page either, and every Why is in view on a phone.
      const wide = await page.evaluate(() => [...document.querySelectorAll('main *')]
        .filter((e) => !e.closest('details:not([open])') && e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
        .map((e) => e.tagName + '.' + e.className).slice(0, 3));
      if (label === 'mobile' && wide.length) fail(`${label} ${path}: scrolls sideways inside ${wide.join(', ')}`);
      if (label === 'mobile') {
        const hidden = await page.evaluate(() => [...document.querySelectorAll('td.why')]
          .filter((td) => !td.closest('details:not([open])'))
          .filter((td) => { const r = td.getBoundingClientRect(); return r.width === 0 || r.left < 0 || r.right > window.innerWidth + 1; }).length);
        if (hidden) fail(`${label} ${path}: ${hidden} Why cells are not in view`);
      }
      await page.screenshot({ path: `${outDir}/${name}-${label}.png`, fullPage: true });
    }

    // The hostile strings are shown as text wherever they appear.
    await page.goto(`${base}/console/releases`);
    const listed = await page.locator('main').textContent();
    if (!listed.includes('<script>alert(1)</script>')) fail(`${label}: hostile service name not shown as text`);
    if (await page.locator('main script').count() > 0) fail(`${label}: a script element was injected`);

    // The account menu: a dropdown on desktop, inside the drawer on a phone.
    await page.goto(`${base}/console`);
    if (label === 'desktop') {
      await page.locator('details.account > summary').click();
      const logout = page.locator('details.account .menu a.logout');
      if (!(await logout.isVisible())) fail('desktop: Logout not visible in the account menu');
      if (!(await page.locator('details.account .menu').textContent()).includes('alice@example.test')) fail('desktop: the account menu does not name the user');
      await page.screenshot({ path: `${outDir}/account-menu-desktop.png` });
      await logout.click();
    } else {
      if (await page.locator('nav.main-nav').isVisible()) fail('mobile: the desktop navigation is shown');
      await page.locator('details.drawer > summary').click();
      const logout = page.locator('details.drawer .drawer-account a.logout');
      if (!(await logout.isVisible())) fail('mobile: Logout not visible in the drawer');
      for (const [, path] of pages) {
        if (path.startsWith('/console/releases/') || path.includes('?')) continue;
        if (await page.locator(`details.drawer nav a[href="${path}"]`).count() !== 1) fail(`mobile: drawer lacks ${path}`);
      }
      await page.screenshot({ path: `${outDir}/account-menu-mobile.png` });
      await logout.click();
    }
    await page.waitForURL('**/console/signed-out');
    if (!(await page.locator('h1').textContent()).includes('Signed out')) fail(`${label}: Logout did not sign out`);

    if (errors.length) fail(`${label}: console errors: ${errors.join(' | ')}`);
    await context.close();
  }
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log(`browser checks passed; screenshots in ${outDir}`);
