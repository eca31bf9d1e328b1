// Opens the daemon's OR web view in headless chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), waits until frames advance with a mask on screen, saves a screenshot and
// prints what the page measured as one JSON line.
//   node check-view.js URL SCREENSHOT.png
// With M2S_VIEW_TOKEN set, a login page on the way is filled in with that token; M2S_CHROMIUM_ARGS
// adds browser switches (one per line), e.g. the appliance's pinned key.
"use strict";
const { chromium } = require("playwright-core");

// Chromium aborts a navigation when network interfaces change under it (the tests add and remove
// network namespaces beside it): either as ERR_NETWORK_CHANGED or by replacing the navigation with
// its own error page. Such a step is tried again, at most three times in all. Any other failure
// is the test's.
function networkChanged(e) {
  const text = String(e);
  return text.includes("ERR_NETWORK_CHANGED") || text.includes('interrupted by another navigation to "chrome-error://');
}

async function retried(step) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (e) {
      if (attempt >= 3 || !networkChanged(e)) throw e;
    }
  }
}

(async () => {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.M2S_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      ...(process.env.M2S_CHROMIUM_ARGS || "").split("\n").filter((a) => a.length > 0)],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    let login = null;
    await retried(async () => {
      await page.goto(url);
      if (process.env.M2S_VIEW_TOKEN && (await page.$("#token"))) {
        login = page.url();
        await page.fill("#token", process.env.M2S_VIEW_TOKEN);
        await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
      }
    });
    await page.waitForFunction(() => window.m2sStats && window.m2sStats.frames >= 10 && window.m2sStats.maskPixels > 0, null, { timeout: 60000 });
    const first = await page.evaluate(() => ({ ...window.m2sStats }));
    // Ten more frames drawn, however long a busy machine takes to draw them.
    await page.waitForFunction((drawn) => window.m2sStats.frames >= drawn + 10, first.frames, { timeout: 60000 });
    const second = await page.evaluate(() => ({ ...window.m2sStats }));
    const status = await page.textContent("#status");
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ first, second, status, title: await page.title(), errors, login }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
