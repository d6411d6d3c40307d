// Walks the subscriber flow of the User Guide (C.2 - C.7) in headless Chromium with
// JavaScript switched off (the pages must not need it), saving a screenshot per step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, bad_csr, csr};
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
    acceptDownloads: true,
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
    report.steps.push({ step: name, url: page.url(), title: await page.title(),
                        h1: (await page.textContent('h1')) || '',
                        text: (await page.textContent('main')) || '', screenshot: file });
  };
  try {
    // C.2 login, in the language the browser asks for (Accept-Language)
    await page.goto(`${job.base}/ecert/`);
    await shot('1-login');
    await page.fill('#server_name', job.envelope.server_name);
    await page.fill('#reference', job.envelope.reference);
    await page.fill('#pin', job.envelope.pin);
    await Promise.all([page.waitForNavigation(), page.click('#login-submit')]);
    await shot('2-confirm');
    // C.3 confirm (with Chinese organisation name in the Chinese walk)
    await Promise.all([page.waitForNavigation(), page.click(job.lang === 'zh' ? '#confirm-zh' : '#confirm')]);
    await shot('3-csr');
    // C.5 a wrong paste first: the message, the text kept
    await page.fill('#csr', job.bad_csr);
    await Promise.all([page.waitForNavigation(), page.click('#csr-submit')]);
    report.kept = await page.inputValue('#csr');
    await shot('4-csr-error');
    await page.fill('#csr', job.csr);
    await Promise.all([page.waitForNavigation(), page.click('#csr-submit')]);
    await shot('5-accept-reject');
    report.serial = (await page.textContent('#c-serial')).trim();
    report.validity = (await page.textContent('#c-validity')).trim();
    // C.6 accept; C.7 download
    await Promise.all([page.waitForNavigation(), page.click('#accept')]);
    await shot('6-download');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-pem')]);
    const saved = path.join(job.outdir, `${job.lang}-${download.suggestedFilename()}`);
    await download.saveAs(saved);
    report.download = { name: download.suggestedFilename(), file: saved };
    // the language switch is a plain link
    report.switch_text = (await page.textContent('#lang-switch')).trim();
    // Search and Download Certificate (public)
    await page.goto(`${job.base}/ecert/search`);
    await page.fill('#q', job.envelope.server_name);
    await Promise.all([page.waitForNavigation(), page.click('#search-submit')]);
    await shot('7-search');
    report.found = await page.locator('.r-serial').allTextContents();
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
