// What the browser walks share: the job file (argv[2]), headless Debian Chromium with
// JavaScript off (the pages must not need it), a screenshot and the page's text per step, the
// JSON report on stdout that tests/test_ecert_browser.py checks, and an error in it on failure.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function walk(steps, { prefix = '', downloads = false } = {}) {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ecert-chromium-'));
  const report = { lang: job.lang, steps: [] };
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: job.chromium,
    headless: true,
    javaScriptEnabled: false,
    acceptDownloads: downloads,
    locale: job.lang === 'zh' ? 'zh-HK' : 'en-GB',
    viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  const shot = async (name) => {
    const file = path.join(job.outdir, `${job.lang}-${prefix}${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    report.steps.push({ step: name, url: page.url(), title: await page.title(),
                        h1: (await page.textContent('h1')) || '',
                        text: (await page.textContent('main')) || '', screenshot: file });
  };
  const go = (selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);
  try {
    await steps({ job, context, page, report, shot, go });
  } catch (e) {
    report.error = String(e && e.stack || e);
    try { await shot('error'); } catch (ignored) { /* the report says enough */ }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report));
}

function run(steps, options) {
  walk(steps, options).catch((e) => {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }));
    process.exit(1);
  });
}

module.exports = { run };
