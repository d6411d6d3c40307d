// Walks the revocation pages and the key-compromise report in headless Chromium with
// JavaScript off, as a subscriber and as a finder of a leaked key would, one screenshot a step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, serial, proof_csr};
// output: a JSON report on stdout that tests/test_ecert_browser.py checks.
'use strict';
const { run } = require('./browser');

run(async ({ job, context, page, report, shot, go }) => {
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
}, {});
