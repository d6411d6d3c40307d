// axe-core over every page a subscriber and the public meet, in English or Chinese, at 1100 and
// 375 px: WCAG 2.2 A and AA, and AAA contrast (color-contrast-enhanced) for the text. The pages
// need no JavaScript; axe does, so this walk alone runs with it on.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, bad_csr, csr};
// output: {pages: [{name, width, url, violations: [{id, nodes}], scroll_width}]} on stdout.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

async function audit(page, name, out) {
  for (const width of [1100, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await page.addScriptTag({ content: AXE });
    const res = await page.evaluate(async () => {
      const aa = await window.axe.run(document, { runOnly: { type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
      const aaa = await window.axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast-enhanced'] } });
      return { v: aa.violations.concat(aaa.violations).map((x) => ({ id: x.id,
        nodes: x.nodes.map((n) => n.target.join(' ')).slice(0, 5) })),
        scroll: document.documentElement.scrollWidth };
    });
    out.push({ name, width, url: page.url(), violations: res.v, scroll_width: res.scroll });
  }
  await page.setViewportSize({ width: 1100, height: 900 });
}

(async () => {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ecert-axe-'));
  const pages = [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: job.chromium, headless: true, javaScriptEnabled: true, bypassCSP: true,
    locale: job.lang === 'zh' ? 'zh-HK' : 'en-GB', viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'], timeout: 60000 });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  const go = (sel) => Promise.all([page.waitForNavigation(), page.click(sel)]);
  try {
    const b = `${job.base}/ecert`;
    for (const [name, url] of [['start', '/'], ['login', '/login'], ['revoke-login', '/revoke'],
      ['keycompromise', '/keycompromise'], ['report', '/report'], ['search', '/search'],
      ['search-bad', '/search?q=not%20a%20name!']]) {
      await page.goto(b + url);
      await audit(page, name, pages);
    }
    await page.goto(`${b}/login`);
    await page.fill('#server_name', job.envelope.server_name);
    await page.fill('#reference', job.envelope.reference);
    await page.fill('#pin', '0000000000000000');
    await go('#login-submit');
    await audit(page, 'login-error', pages);
    await page.fill('#server_name', job.envelope.server_name);
    await page.fill('#reference', job.envelope.reference);
    await page.fill('#pin', job.envelope.pin);
    await go('#login-submit');
    await audit(page, 'confirm', pages);
    await go('#confirm');
    await audit(page, 'csr', pages);
    await page.fill('#csr', job.bad_csr);
    await go('#csr-submit');
    await audit(page, 'csr-error', pages);
    await page.fill('#csr', job.csr);
    await go('#csr-submit');
    await audit(page, 'certificate', pages);
    await go('#accept');
    await audit(page, 'download', pages);
    await page.goto(`${b}/search?q=${encodeURIComponent(job.envelope.server_name)}`);
    await audit(page, 'search-results', pages);
    process.stdout.write(JSON.stringify({ pages }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack || e), pages }));
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})();
