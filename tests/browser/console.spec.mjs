// The investigator's whole path through the console, in Debian's Chromium driven by playwright-core:
// sign in, open the queue, filter it, open an account (stating the purpose), click a reason and see
// its events highlighted, follow a linked account, open the operation, record a decision, then see
// the decision in the audit trail as an admin. Saves PNG screenshots (the README shows them).
//
// Run by tests/console/test_console_browser.py, which serves the console and sets:
//   BASE_URL, INVESTIGATOR, ADMIN, PASSWORD, REASON_KIND, SHOTS (directory), CHROMIUM (executable)
// Exits non-zero, saying which step failed, when anything is not as expected.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};
const BASE = env("BASE_URL");
const SHOTS = env("SHOTS");
const problems = [];

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function shot(page, name, options = {}) {
  await page.screenshot({ path: path.join(SHOTS, `console-${name}.png`), ...options });
}

async function signIn(page, user) {
  await page.goto(`${BASE}/`);
  check(page.url().includes("/login"), "an anonymous visit lands on the sign-in page");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", env("PASSWORD"));
  await Promise.all([page.waitForLoadState("load"), page.click("form.login button[type=submit]")]);
}

async function statePurpose(page, purpose) {
  check((await page.locator("form.purpose").count()) === 1, `the first view asks for a purpose (${page.url()})`);
  await page.fill("input[name=purpose]", purpose);
  await Promise.all([page.waitForLoadState("load"), page.click("form.purpose button[type=submit]")]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400 && response.status() !== 401) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });

  // 1. sign in as an investigator
  await page.goto(`${BASE}/queue`);
  check(page.url().includes("/login?next="), "the queue without a session redirects to sign-in");
  await shot(page, "login");
  await page.fill("input[name=username]", env("INVESTIGATOR"));
  await page.fill("input[name=password]", env("PASSWORD"));
  await Promise.all([page.waitForURL(/\/queue/), page.click("form.login button[type=submit]")]);

  // 2. the queue, then filtered by a reason kind
  const rows = await page.locator("table.queue tbody tr td a").count();
  check(rows > 0, "the queue lists flagged accounts");
  await shot(page, "queue");
  await page.selectOption("select[name=reason]", env("REASON_KIND"));
  await Promise.all([page.waitForURL(/reason=/), page.click("form.filters button[type=submit]")]);
  const filtered = await page.locator("table.queue tbody tr td a").count();
  check(filtered > 0 && filtered <= rows, `the filtered queue lists accounts (${filtered})`);
  check((await page.locator("select[name=reason]").inputValue()) === env("REASON_KIND"), "the filter is kept");

  // 3. open the first account, stating the purpose
  const first = page.locator("table.queue tbody tr td a").first();
  const accountId = (await first.textContent()).trim();
  await Promise.all([page.waitForLoadState("load"), first.click()]);
  await statePurpose(page, "review of the flag raised on this account");
  check((await page.locator("h1").textContent()).includes(accountId), "the account page opens");
  await page.waitForSelector("#score-chart svg circle.score-dot");
  await page.waitForSelector("#graph svg circle");
  await shot(page, "account");

  // 4. click a reason whose events are in the timeline: they are highlighted
  let evidence = JSON.parse(await page.locator("#evidence-data").textContent());
  let reasonIndex = Object.keys(evidence).find((k) => evidence[k].ids.length > 0);
  if (reasonIndex === undefined) {
    // the reasons' events are older than the latest events shown: list one reason's events only
    const withEvents = Object.keys(evidence).find((k) => evidence[k].total > 0);
    check(withEvents !== undefined, "some reason has events");
    await Promise.all([page.waitForLoadState("load"), page.click(`button.reason[data-reason="${withEvents}"] + a.only`)]);
    evidence = JSON.parse(await page.locator("#evidence-data").textContent());
    reasonIndex = withEvents;
    check(evidence[reasonIndex].ids.length > 0, "the reason's own timeline lists its events");
  }
  await page.click(`button.reason[data-reason="${reasonIndex}"]`);
  const hits = await page.locator("table.timeline tr.hit").count();
  check(hits === evidence[reasonIndex].ids.length, `the reason's ${evidence[reasonIndex].ids.length} events are highlighted (${hits})`);
  check((await page.locator("#reason-status").textContent()).includes("highlighted"), "the page says what it highlighted");
  await page.locator("button.reason[aria-pressed=true]").scrollIntoViewIfNeeded();
  await shot(page, "reason");
  await page.locator("table.timeline tr.hit").first().scrollIntoViewIfNeeded();
  await shot(page, "reason-timeline");

  // 5. follow a linked account from the graph
  const node = page.locator("#graph svg a").nth(1);
  const linkedHref = await node.getAttribute("href");
  const linkedId = decodeURIComponent(linkedHref.replace("/account/", ""));
  await page.goto(`${BASE}${linkedHref}`);
  await statePurpose(page, "linked to the account under review");
  check((await page.locator("h1").textContent()).includes(linkedId), "the linked account's page opens");

  // 6. the operation around the first account
  await page.goto(`${BASE}/account/${encodeURIComponent(accountId)}`);
  check((await page.locator("form.purpose").count()) === 0, "no second purpose for an account already justified");
  await Promise.all([page.waitForLoadState("load"), page.click("text=operation around this account")]);
  await statePurpose(page, "operation behind the account under review");
  await page.waitForSelector("#op-graph svg circle");
  const members = await page.locator("table.members tbody tr").count();
  check(members >= 1, `the operation lists its members (${members})`);
  await shot(page, "operation");

  // 7. record a decision on the account
  await page.goto(`${BASE}/account/${encodeURIComponent(accountId)}`);
  await page.check("form.decision-form input[value=escalate]");
  await page.fill("form.decision-form textarea[name=note]", "fast bookings and shared devices: a second look by the team lead");
  await Promise.all([page.waitForLoadState("load"), page.click("form.decision-form button[type=submit]")]);
  check((await page.locator(".flash").textContent()).includes("Recorded: escalate"), "the decision is recorded");
  await page.locator("section.decide").scrollIntoViewIfNeeded();
  await shot(page, "decision");

  // 8. sign out; the admin sees the decision in the audit trail
  await Promise.all([page.waitForURL(/\/login/), page.click("form.logout button")]);
  await signIn(page, env("ADMIN"));
  await page.goto(`${BASE}/admin/audit?target=${encodeURIComponent(accountId)}`);
  const audit = await page.locator("table.audit").textContent();
  check(audit.includes("decide") && audit.includes("view_account") && audit.includes("review of the flag"), "the audit shows the view, its purpose and the decision");
  await shot(page, "audit");
  await page.goto(`${BASE}/overview`);
  await page.waitForSelector("#overview-charts svg rect");
  await shot(page, "overview");

  check(problems.length === 0, `no console or page errors (CSP violations included): ${problems.join("; ")}`);
  console.log(JSON.stringify({ ok: true, account: accountId, linked: linkedId, members, hits }));
} finally {
  await browser.close();
}
