// The personal space in a real browser: the system's Chromium, headless, driven by
// playwright-core. Logs in with password and TOTP (computed here from the seed the page
// shows), accepts the terms, sees the mailbox usage, flips the red list and sees the
// directory change, downloads the data export. Then photographs the pages a practice meets
// — login, account, my data, the directory searching DIRECTORY_QUERY — on a desktop
// (1280×900) and a phone (390×844), in French and English, as SCREENSHOTS/pages/
// PAGE-LANG-DEVICE.png. Prints one JSON line of findings.
//
// Environment: BASE (https://127.0.0.1:port), ADDRESS, PASSWORD, SCREENSHOTS, CHROMIUM,
// DIRECTORY_QUERY.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

function totp(base32) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, "0");
}

const { BASE, ADDRESS, PASSWORD, SCREENSHOTS, CHROMIUM, DIRECTORY_QUERY } = process.env;
const found = {};
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  // The relay's local CA is not in Chromium's store; TLS itself is tested elsewhere.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true,
                                             viewport: { width: 412, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${BASE}/account`);
  found.redirected_to_login = new URL(page.url()).pathname;
  await page.fill("#address", ADDRESS);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  const secret = (await page.textContent("#secret")).trim();
  found.qr_code_shown = (await page.locator("svg").count()) > 0;
  await page.screenshot({ path: join(SCREENSHOTS, "portal-enrolment.png"), fullPage: true });
  await page.fill("#code", totp(secret));
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  found.recovery_codes = await page.locator("#recovery-codes li").count();
  await page.goto(`${BASE}/account`);
  found.terms_first = new URL(page.url()).pathname;
  await page.screenshot({ path: join(SCREENSHOTS, "portal-terms.png"), fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click("#accept")]);
  found.after_terms = new URL(page.url()).pathname;
  found.messages = (await page.textContent("#messages")).trim();
  found.usage = (await page.textContent("#usage")).trim();
  await page.screenshot({ path: join(SCREENSHOTS, "portal-account.png"), fullPage: true });

  const directory = async () => (await (await context.request.get(`${BASE}/directory/search?q=${encodeURIComponent(ADDRESS)}`)).json()).total;
  found.listed_before = await directory();
  await page.check("input[name=red_list]");
  await Promise.all([page.waitForNavigation(), page.click("#preferences ~ form button[type=submit], form[action='/account/preferences'] button")]);
  found.listed_after_red_list = await directory();
  found.red_list_checked = await page.isChecked("input[name=red_list]");

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const file = join(SCREENSHOTS, "personal-data.json");
  await download.saveAs(file);
  found.export_address = JSON.parse(readFileSync(file, "utf8")).account.address;

  // The pages as practices see them, on both devices and in both languages. The logged-in
  // session's cookies go to the other viewport; the login page is taken without them.
  const pages = join(SCREENSHOTS, "pages");
  mkdirSync(pages, { recursive: true });
  const cookies = await context.cookies();
  const devices = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };
  found.pages = [];
  for (const [device, viewport] of Object.entries(devices)) {
    const anonymous = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    const signedIn = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    await signedIn.addCookies(cookies);
    for (const lang of ["fr", "en"]) {
      const shots = [
        ["login", anonymous, `/login?lang=${lang}`],
        ["account", signedIn, `/account?lang=${lang}`],
        ["data", signedIn, `/account/data?lang=${lang}`],
        ["directory", anonymous, `/directory?lang=${lang}&q=${encodeURIComponent(DIRECTORY_QUERY)}`],
      ];
      for (const [name, where, path] of shots) {
        const tab = await where.newPage();
        await tab.goto(`${BASE}${path}`);
        const file = `${name}-${lang}-${device}.png`;
        await tab.screenshot({ path: join(pages, file), fullPage: true });
        // Nothing wider than the screen: a phone scrolls down, never sideways.
        const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        found.pages.push({ file, path: new URL(tab.url()).pathname, lang: await tab.getAttribute("html", "lang"), overflow });
        await tab.close();
      }
    }
    await anonymous.close();
    await signedIn.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(found) + "\n");
