// Walks the three Domain Control Validation methods (User Guide C.4) in headless Chromium with
// JavaScript off, one application each, as a subscriber would: the method list, the
// instructions, "Confirm" (the page refreshes itself while the CA checks), the validated names,
// then the CSR page. For Constructed E-mail the walk reads the mail the CA sent from the test
// relay's directory, as the subscriber reads their mailbox. One screenshot a step.
// Input: a JSON file (argv[2]) {base, chromium, outdir, lang, mail_dir, website, dns, email}
// (each an envelope); output: a JSON report on stdout that tests/test_ecert_browser.py checks.
'use strict';
const fs = require('fs');
const path = require('path');
const { run } = require('./browser');

// The newest message to `to` in the relay's directory, its base64 text body decoded.
function mailedCode(dir, to) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort().reverse();
  for (const f of files) {
    const raw = fs.readFileSync(path.join(dir, f), 'latin1');
    if (!raw.includes(to)) continue;
    const body = Buffer.from(raw.split(/\r\n\r\n/).slice(1).join('').replace(/\s+/g, ''), 'base64').toString('utf8');
    const m = body.match(/^\s+([a-z2-7]{32})\s*$/m);
    if (m) return m[1];
  }
  return null;
}

run(async ({ job, context, page, report, shot, go }) => {
  report.states = {};
  const login = async (env) => {
    await context.clearCookies();
    await page.goto(`${job.base}/ecert/login`);
    await page.fill('#server_name', env.server_name);
    await page.fill('#reference', env.reference);
    await page.fill('#pin', env.pin);
    await go('#login-submit');
  };
  // The page refreshes itself (meta refresh) while a check runs; wait for it to settle. A
  // refresh can land in the middle of a look at the page: that look is simply taken again.
  const settledOnce = async () => {
    for (let i = 0; i < 60 && await page.locator('#checking').count(); i++) {
      report.saw_checking = true;
      await page.waitForTimeout(500);
      await page.waitForLoadState();
    }
    return page.locator('tr.dcv-name').evaluateAll((rows) => rows.map((r) => [r.dataset.name, r.dataset.state]));
  };
  const settled = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await settledOnce();
      } catch (e) {
        if (attempt >= 5 || !/context was destroyed|navigation/i.test(String(e))) throw e;
        await page.waitForLoadState();
      }
    }
  };
  // Website Change
  await login(job.website);
  await shot('w1-methods');
  await go('#m-website');
  await shot('w2-instructions');
  report.fileauth_href = await page.getAttribute('#fileauth', 'href');
  await go('#dcv-confirm');
  report.states.website = await settled();
  await shot('w3-validated');
  await go('#dcv-continue');
  await shot('w4-csr');
  // DNS Change (a wildcard: Website Change is not offered)
  await login(job.dns);
  report.dns_methods = await page.locator('.methods a').allTextContents();
  await go('#m-dns');
  await shot('d1-instructions');
  report.dns_value = (await page.textContent('#code')).trim();
  await go('#dcv-confirm');
  report.states.dns = await settled();
  await shot('d2-validated');
  // Constructed E-mail
  await login(job.email);
  await go('#m-email');
  await shot('e1-choose');
  report.addresses = await page.locator('#address option').allTextContents();
  await page.selectOption('#address', job.email.address);
  await go('#email-send-button');
  await shot('e2-sent');
  let code = null;
  for (let i = 0; i < 40 && !code; i++) {
    code = mailedCode(job.mail_dir, job.email.address);
    if (!code) await page.waitForTimeout(250);
  }
  if (!code) throw new Error('no validation mail for ' + job.email.address);
  await page.fill('#email-code', 'not-the-code');
  await go('#email-confirm');
  await shot('e3-wrong');
  await page.fill('#email-code', code);
  await go('#email-confirm');
  report.states.email = await settled();
  await shot('e4-validated');
}, { prefix: 'dcv-' });
