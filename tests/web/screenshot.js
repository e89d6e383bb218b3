#!/usr/bin/env node
// screenshot.js URL OUT.png [WIDTH HEIGHT]: load the dashboard in headless
// Chromium (the Debian package) and save a full-page screenshot; prints
// console errors and exits 1 if there were any. For looking at the page
// by hand (tests/web/README.md); the browser test uses lib.js the same way.
'use strict';
const { launch } = require('./lib.js');

(async () => {
    const [url, out, w, h] = process.argv.slice(2);
    if (!url || !out) {
        console.error('usage: screenshot.js URL OUT.png [WIDTH HEIGHT]');
        process.exit(2);
    }
    const { browser, page, errors } = await launch(
        { width: Number(w || 1366), height: Number(h || 900) });
    try {
        await page.goto(url, { waitUntil: 'load' });
        await page.waitForSelector('#hubs .modem', { timeout: 15000 });
        await page.waitForTimeout(1500);
        await page.screenshot({ path: out, fullPage: process.env.FULL !== '0' });
    } finally {
        await browser.close();
    }
    for (const e of errors) console.error('console error: ' + e);
    process.exit(errors.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
