// Walks the subscriber flow of the User Guide (C.2 - C.7) in headless Chromium with
// JavaScript switched off (the pages must not need it), saving a screenshot per step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, bad_csr, csr};
// output: a JSON report on stdout that tests/test_ecert_browser.py checks.
'use strict';
const path = require('path');
const { run } = require('./browser');

run(async ({ job, context, page, report, shot, go }) => {
  // C.2 login, in the language the browser asks for (Accept-Language)
  await page.goto(`${job.base}/ecert/login`);
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
}, { downloads: true });
