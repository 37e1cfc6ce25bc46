// Drives confab's console in headless Chromium, as an operator would, and
// prints what it saw as JSON lines for the Rust test (tests/api/console.rs)
// to check. Usage: node e2e.js <server> <operator password> <Easemob app token>
//
// The browser is Debian's chromium (CONFAB_CHROMIUM overrides the path);
// playwright-core drives it and brings no browser of its own.
const { chromium } = require('playwright-core');

const [server, password, appToken] = process.argv.slice(2);
const say = (line) => console.log(JSON.stringify(line));
const shots = process.env.CONFAB_CONSOLE_SCREENSHOTS;

// A REST send, as the app's backend makes it (Easemob's dialect).
async function restSend(from, to, text) {
  const res = await fetch(`${server}/demo/chat/messages/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${appToken}` },
    body: JSON.stringify({ from, to: [to], type: 'txt', body: { msg: text } }),
  });
  if (!res.ok) throw new Error(`REST send: ${res.status} ${await res.text()}`);
  return (await res.json()).data[to];
}

async function go(page, hash) {
  await page.click(`nav a[href="#/${hash}"]`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CONFAB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(20000);
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    // Refused calls (the wrong password, the session probe when signed out)
    // log "Failed to load resource"; anything else is a problem.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });

    // Sign in.
    await page.goto(`${server}/console/`);
    await page.fill('form[data-testid=login] input[name=password]', 'not the password');
    await page.click('form[data-testid=login] button[type=submit]');
    const refused = await page.textContent('[data-testid=error]');
    await page.fill('form[data-testid=login] input[name=password]', password);
    await page.click('form[data-testid=login] button[type=submit]');
    say({ refused, signedIn: await page.textContent('[data-testid=operator]') });

    // Find a user by the start of their ID.
    await go(page, 'users');
    await page.waitForSelector('[data-testid=app-picker] option[value="demo/chat"]', { state: 'attached' });
    await page.fill('[data-testid=user-search]', 'an');
    await page.click('form button[type=submit]');
    const row = page.locator('tr[data-user="ann"]');
    await row.waitFor();
    const users = await page.locator('[data-testid=users] tr[data-user]').evaluateAll((rows) => rows.map((r) => r.dataset.user));
    say({ found: users, online: await row.locator('td').nth(3).textContent() });

    // A message sent through the REST API shows in the conversation's history.
    const id = await restSend('bob', 'ann', 'hello from REST');
    await go(page, 'messages');
    await page.fill('input[name=user]', 'ann');
    await page.fill('input[name=peer]', 'bob');
    await page.click('form[data-testid=history] button[type=submit]');
    const message = page.locator(`tr[data-message="${id}"]`);
    await message.waitFor();
    say({ seen: { id, content: await message.locator('td.content').textContent(), state: await message.locator('td.state').textContent() } });

    // Recall it, confirming first.
    await message.locator('button[data-action=recall]').click();
    const armed = await message.locator('button[data-action=recall]').textContent();
    await message.locator('button[data-action=recall]').click();
    await page.waitForFunction((mid) => document.querySelector(`tr[data-message="${mid}"] td.state`)?.textContent === 'recalled', id);
    say({ recalled: id, asked: armed });

    // The user's page: online with a device; kick them and see them go offline.
    await page.evaluate(() => { location.hash = '#/user/ann'; });
    await page.waitForSelector('[data-testid=user-online]');
    const before = { online: await page.textContent('[data-testid=user-online]'), devices: await page.textContent('[data-testid=devices]') };
    await page.click('button[data-action=kick]');
    let after = '';
    for (let i = 0; i < 40 && after !== 'offline'; i++) {
      await page.waitForTimeout(250);
      await page.click('text=Refresh');
      await page.waitForSelector('[data-testid=user-online]');
      after = await page.textContent('[data-testid=user-online]');
    }
    say({ kicked: { before, after } });
    if (shots) await page.screenshot({ path: `${shots}/user.png`, fullPage: true });

    // The live view moves while messages flow.
    await go(page, 'live');
    await page.waitForSelector('[data-testid=live-chart]', { timeout: 10000 });
    let stop = false;
    const traffic = (async () => {
      let sent = 0;
      while (!stop) { await restSend('bob', 'ann', `load ${sent++}`); await new Promise((r) => setTimeout(r, 20)); }
      return sent;
    })();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=live-sends]')?.textContent) > 0, null, { timeout: 15000 });
    const sends = Number(await page.textContent('[data-testid=live-sends]'));
    const points = Number(await page.getAttribute('[data-testid=live-chart]', 'data-points'));
    stop = true;
    const sent = await traffic;
    say({ live: { sends, points, sent, p99: await page.textContent('[data-testid=live-p99]') } });
    if (shots) await page.screenshot({ path: `${shots}/live.png`, fullPage: true });

    // Every action is in the audit log.
    await go(page, 'audit');
    await page.waitForSelector('[data-testid=audit] td.action');
    const actions = await page.locator('[data-testid=audit] td.action').allTextContents();
    say({ audit: actions });
    if (shots) await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });

    // The API reference renders the dialects' OpenAPI documents.
    await go(page, 'api');
    await page.selectOption('[data-testid=api-dialect]', 'leancloud');
    const operation = page.locator('tr[data-operation="GET /1.2/rtm/conversations"]');
    await operation.waitFor();
    const operations = await page.locator('tr[data-operation]').count();
    say({ api: { operations, summary: await operation.locator('td').nth(2).textContent() } });
    if (shots) await page.screenshot({ path: `${shots}/api.png` });

    // Signing out ends the session: a reload shows the sign-in form.
    await page.click('#whoami button');
    await page.waitForSelector('form[data-testid=login]');
    await page.reload();
    await page.waitForSelector('form[data-testid=login]');
    say({ signedOut: true, problems });
  } finally {
    await browser.close();
  }
}

main().catch((e) => { say({ failed: String(e && e.stack || e) }); process.exit(1); });
