// Walks what stood in a new applicant's way, in headless Chromium with JavaScript off: the
// site's root, a wildcard application's names before confirming and accepting, a CSR error
// that survives Back, reload and the language switch, a narrow screen, a second tab that
// rejects after the first accepted, a form of an earlier login, and the end of a rejection.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, wildcard, second, bad_csr, csr,
// csr2}; output: a JSON report on stdout that tests/test_pages_browser.py checks.
'use strict';
const { run } = require('./browser');

async function login(page, base, env) {
  await page.goto(`${base}/ecert/login`);
  await page.fill('#server_name', env.server_name);
  await page.fill('#reference', env.reference);
  await page.fill('#pin', env.pin);
  await Promise.all([page.waitForNavigation(), page.click('#login-submit')]);
}

const text = async (page, sel) => ((await page.textContent(sel)) || '').trim();

run(async ({ job, context, page, report, shot, go }) => {
  // the site's root: the start page of the services
  await page.goto(`${job.base}/`);
  report.start_url = page.url();
  await shot('p1-start');
  report.start_links = await page.$$eval('main a', (as) => as.map((a) => a.getAttribute('href')));

  // a wildcard application: every name the certificate will hold, before confirming
  await login(page, job.base, job.wildcard);
  await shot('p2-confirm-wildcard');
  report.confirm_extra = await text(page, '#d-extra');
  report.confirm_extra_count = await text(page, '#d-extra-count');
  await go('#confirm');
  report.csr_key_note = await text(page, '#key-requirement');
  report.csr_back = await page.getAttribute('#csr-back', 'href');

  // a wrong paste: the error page is a GET (post/redirect/get)
  const posts = [];
  page.on('request', (rq) => { if (rq.method() === 'POST') posts.push(rq.url()); });
  await page.fill('#csr', job.bad_csr);
  await go('#csr-submit');
  await shot('p3-csr-error');
  report.error_url = page.url();
  report.csr_error = await text(page, '#error');
  const postsBefore = posts.length;
  await page.reload();
  report.after_reload = { posts: posts.length - postsBefore, error: await text(page, '#error'),
                          kept: await page.inputValue('#csr') };
  // the other language, on the error page: the message in it, the paste kept
  await go('#lang-switch');
  await shot('p4-csr-error-other-lang');
  report.other_lang = { error: await text(page, '#error'), kept: await page.inputValue('#csr'),
                        lang: await page.getAttribute('html', 'lang') };
  await go('#lang-switch');
  // Back from the error page: no form resubmission, the page before it
  await page.goBack();
  report.after_back = { url: page.url(), posts: posts.length - postsBefore };
  await page.goForward();

  // a narrow screen (375 px): nothing wider than the screen, the switch on one line
  await page.setViewportSize({ width: 375, height: 800 });
  await page.reload();
  await shot('p5-csr-375');
  report.narrow_csr = await page.$eval('html', (h) => h.scrollWidth);
  report.switch_height = (await page.locator('#lang-switch').boundingBox()).height;
  await page.setViewportSize({ width: 1100, height: 900 });

  // the certificate: the names it holds
  await page.fill('#csr', job.csr);
  await go('#csr-submit');
  await shot('p6-accept-wildcard');
  report.cert_extra = await text(page, '#c-extra');
  report.cert_extra_count = await text(page, '#c-extra-count');
  await page.setViewportSize({ width: 375, height: 800 });
  await page.reload();
  await shot('p7-accept-375');
  report.narrow_cert = await page.$eval('html', (h) => h.scrollWidth);
  const sel = await page.locator('#code').boundingBox();
  report.select_right = sel.x + sel.width;
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.reload();

  // two tabs: Accept in this one, then Reject in a second one opened before
  const tab2 = await context.newPage();
  await tab2.goto(`${job.base}/ecert/certificate`);
  await go('#accept');
  await tab2.fill('#reason', 'changed my mind');
  await Promise.all([tab2.waitForNavigation(), tab2.click('#reject')]);
  report.tab2 = { url: tab2.url(), notice: await text(tab2, '#notice') };
  await tab2.screenshot({ path: `${job.outdir}/${job.lang}-p8-reject-after-accept.png`, fullPage: true });
  report.steps.push({ step: 'p8-reject-after-accept', url: tab2.url(),
                      screenshot: `${job.outdir}/${job.lang}-p8-reject-after-accept.png` });
  await tab2.close();

  // a form of an earlier login: the second application, whose login form was also open in
  // another tab, which logs in again later
  await page.reload();
  await go('form.logout button');
  const tab3 = await context.newPage();
  await tab3.goto(`${job.base}/ecert/login`);
  await login(page, job.base, job.second);
  await go('#confirm');
  await page.fill('#csr', job.csr2);
  await go('#csr-submit');
  await tab3.fill('#server_name', job.second.server_name);
  await tab3.fill('#reference', job.second.reference);
  await tab3.fill('#pin', job.second.pin);
  await Promise.all([tab3.waitForNavigation(), tab3.click('#login-submit')]);
  await tab3.close();
  await page.fill('#reason', 'a new key');
  await page.selectOption('#code', 'superseded');
  await go('#reject');
  await shot('p9-form-stale');
  report.stale = { url: page.url(), notice: await text(page, '#notice') };
  // the rejection, as superseded: what happened, what next, and a way out
  await page.fill('#reason', 'a new key');
  await page.selectOption('#code', 'superseded');
  await go('#reject');
  await shot('p10-rejected-superseded');
  report.rejected = { url: page.url(), notice: await text(page, '#notice'), message: await text(page, '#message'),
                      renewal: await text(page, '#renewal'),
                      back: await page.getAttribute('#back-to-start', 'href') };
});
