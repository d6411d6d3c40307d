// A Website Change that the remote perspectives do not corroborate (BR 3.2.2.9), in headless
// Chromium with JavaScript off: log in, choose Website Change, "Confirm", wait while the page
// refreshes itself, and read what the subscriber is told. One screenshot a step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope}; output: a JSON report.
'use strict';
const { run } = require('./browser');

run(async ({ job, page, report, shot, go }) => {
  const env = job.envelope;
  await page.goto(`${job.base}/ecert/login`);
  await page.fill('#server_name', env.server_name);
  await page.fill('#reference', env.reference);
  await page.fill('#pin', env.pin);
  await go('#login-submit');
  await go('#m-website');
  await shot('m1-instructions');
  await go('#dcv-confirm');
  for (let i = 0; i < 60 && await page.locator('#checking').count(); i++) {
    await page.waitForTimeout(500);
    await page.waitForLoadState();
  }
  report.rows = await page.locator('tr.dcv-name').evaluateAll(
    (rows) => rows.map((r) => [r.dataset.name, r.dataset.state, r.dataset.reason || '']));
  report.continue = await page.locator('#dcv-continue').count();
  await shot('m2-not-corroborated');
}, { prefix: 'mpic-' });
