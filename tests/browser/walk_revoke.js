// Walks the revocation pages and the key-compromise report in headless Chromium with
// JavaScript off, as a subscriber and as a finder of a leaked key would, one screenshot a step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, serial, proof_csr};
// output: a JSON report on stdout that tests/test_ecert_browser.py checks.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const profile = fs.mkdtempSync(path.join(require('os').tmpdir(), 'ecert-chromium-'));
  const report = { lang: job.lang, steps: [] };
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: job.chromium,
    headless: true,
    javaScriptEnabled: false,
    locale: job.lang === 'zh' ? 'zh-HK' : 'en-GB',
    viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  const shot = async (name) => {
    const file = path.join(job.outdir, `${job.lang}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    report.steps.push({ step: name, url: page.url(), h1: (await page.textContent('h1')) || '',
                        text: (await page.textContent('main')) || '', screenshot: file });
  };
  const go = (selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);
  try {
    await page.goto(`${job.base}/ecert/`);
    await go('#link-revoke');
    await shot('r1-login');
    await page.fill('#server_name', job.envelope.server_name);
    await page.fill('#reference', job.envelope.reference);
    await page.fill('#pin', job.envelope.pin);
    await go('#revoke-login-submit');
    await shot('r2-select');
    report.listed = await page.locator('.c-serial').allTextContents();
    await page.check('#r-superseded');
    await go('#revoke-next');
    await shot('r3-confirm');
    await go('#revoke-submit');
    await shot('r4-done');
    report.done_serial = (await page.textContent('#done-serial')).trim();
    // anyone: the key-compromise report, from the start page
    await page.goto(`${job.base}/ecert/`);
    await go('#link-keycomp');
    await shot('k1-form');
    await page.fill('#evidence', job.proof_csr);
    await go('#keycomp-submit');
    await shot('k2-done');
    report.report_no = (await page.textContent('#report-no')).trim();
  } catch (e) {
    report.error = String(e && e.stack || e);
    try { await shot('error'); } catch (ignored) { /* the report says enough */ }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((e) => { process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) })); process.exit(1); });
