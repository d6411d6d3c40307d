// Walks the download page (User Guide C.7) and the public repository search in headless
// Chromium with JavaScript off, at a desktop width and at 375 px, one screenshot a step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, envelope, csr, url_query,
// revoked_query, unpublished_query}; output: a JSON report on stdout that tests/test_repository_browser.py checks.
'use strict';
const path = require('path');
const { run } = require('./browser');

run(async ({ job, page, report, shot, go }) => {
  const narrow = async (name) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await shot(name);
    report.widths[name] = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.setViewportSize({ width: 1100, height: 900 });
  };
  const rows = async () => ({
    serials: (await page.locator('.r-serial').allTextContents()).map((s) => s.trim()),
    states: (await page.locator('.r-status').allTextContents()).map((s) => s.trim()),
    pem_links: await page.locator('.r-pem').count(),
    count: (await page.textContent('#result-count')).trim(),
  });
  report.widths = {};
  await page.goto(`${job.base}/ecert/login`);
  await page.fill('#server_name', job.envelope.server_name);
  await page.fill('#reference', job.envelope.reference);
  await page.fill('#pin', job.envelope.pin);
  await go('#login-submit');
  await go('#confirm');
  await page.fill('#csr', job.csr);
  await go('#csr-submit');
  await go('#accept');
  await shot('d1-download');
  await narrow('d2-download-375');
  report.files = {};
  for (const id of ['#dl-fullchain', '#dl-p7b-pem']) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
    const saved = path.join(job.outdir, `${job.lang}-repo-${download.suggestedFilename()}`);
    await download.saveAs(saved);
    report.files[id] = { name: download.suggestedFilename(), file: saved };
  }
  // the public search, with a pasted URL, then a revoked certificate by its 0x serial
  await page.goto(`${job.base}/ecert/search`);
  await page.fill('#q', job.url_query);
  await go('#search-submit');
  await shot('s1-by-url');
  report.by_url = await rows();
  await page.fill('#q', job.revoked_query);
  await go('#search-submit');
  await shot('s2-revoked');
  await narrow('s3-revoked-375');
  report.revoked = await rows();
  await page.fill('#q', job.unpublished_query);
  await go('#search-submit');
  await shot('s4-unpublished');
  report.unpublished = await rows();
  report.unpublished_note = (await page.textContent('.r-unpublished')).trim();
  report.links = [await page.getAttribute('#start-link', 'href'), await page.getAttribute('#login-link', 'href')];
}, { downloads: true });
