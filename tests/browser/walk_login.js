// Walks the login form's answers in headless Chromium with JavaScript off, at a phone's width
// (375 px): a wrong PIN (attempts left) kept on reload and across the language switch, a
// malformed PIN marked, Back without any resubmission, a PIN typed in full-width digits, the
// logout in the language chosen, a deep link without a session, a locked envelope and the
// revocation login's order. Input: a JSON file (argv[2]) {base, chromium, outdir, lang,
// envelope, locked, wrong_pin, fullwidth_pin}; output: a JSON report on stdout.
'use strict';
const { run } = require('./browser');

run(async ({ job, page, report, shot, go }) => {
  const login = `${job.base}/ecert/login`;
  const text = async (sel) => ((await page.locator(sel).count()) ? (await page.textContent(sel)).trim() : null);
  const fill = async (env, pin) => {
    await page.fill('#server_name', env.server_name);
    await page.fill('#reference', env.reference);
    await page.fill('#pin', pin);
  };
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(login);
  await shot('l1-form');
  const above = async (a, b) => (await page.locator(a).boundingBox()).y < (await page.locator(b).boundingBox()).y;
  report.notice_first = await above('#privacy-notice', '#login-form');
  // a wrong PIN, the server name pasted as a web address
  await fill({ ...job.envelope, server_name: ` https://${job.envelope.server_name.toUpperCase()}/ ` }, job.wrong_pin);
  await go('#login-submit');
  await shot('l2-wrong');
  report.wrong = { url: page.url(), error: await text('#error'), name: await page.inputValue('#server_name') };
  await page.reload();
  await shot('l3-reload');
  report.reload = { url: page.url(), error: await text('#error') };
  await go('#lang-switch');
  await shot('l4-switched');
  report.switched = { lang: await page.getAttribute('html', 'lang'), error: await text('#error'),
                      reference: await page.inputValue('#reference') };
  await go('#lang-switch');
  // a PIN one digit short
  await fill(job.envelope, job.wrong_pin.slice(1));
  await go('#login-submit');
  await shot('l5-malformed');
  report.malformed = { error: await text('#error'), field: await text('#pin-error'),
                       invalid: await page.getAttribute('#pin', 'aria-invalid'),
                       describedby: await page.getAttribute('#pin', 'aria-describedby') };
  await page.goBack();
  await shot('l6-back');
  report.back = { url: page.url(), form: await page.locator('#login-form').count() };
  // the right PIN, typed with full-width digits and ideographic spaces
  await page.goto(login);
  await fill(job.envelope, job.fullwidth_pin);
  await go('#login-submit');
  await shot('l7-confirm');
  report.confirm_url = page.url();
  // the other language chosen while logged in is kept after the logout
  await go('#lang-switch');
  await go('form.logout button');
  await shot('l8-logged-out');
  report.logged_out = { url: page.url(), info: await text('#info'), lang: await page.getAttribute('html', 'lang') };
  await page.goto(`${job.base}/ecert/csr`);
  await shot('l9-deep-link');
  report.deep = { url: page.url(), info: await text('#info') };
  // five wrong PINs lock the envelope
  for (let i = 0; i < 5; i++) {
    await fill(job.locked, job.wrong_pin);
    await go('#login-submit');
  }
  await shot('l10-locked');
  report.locked = await text('#error');
  await page.goto(`${job.base}/ecert/revoke`);
  await shot('l11-revoke-login');
  report.revoke_notice_first = await above('#privacy-notice', '#revoke-login-form');
}, {});
