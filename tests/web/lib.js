// lib.js: headless Chromium through playwright-core, with the flags the
// tests need (Debian's /usr/bin/chromium, no sandbox as root in CI, no
// network services, a fresh profile). Collects console errors and page
// errors into `errors`.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function launch(viewport) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-chromium-'));
    const exe = process.env.CHROMIUM || '/usr/bin/chromium';
    const ctx = await chromium.launchPersistentContext(profile, {
        executablePath: exe,
        headless: true,
        viewport,
        // playwright evaluates its wait predicates with eval(); the page's
        // CSP forbids that (tests/unit/web checks the header is sent).
        bypassCSP: true,
        args: ['--no-sandbox', '--headless', '--disable-gpu',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--no-first-run',
               '--disable-dev-shm-usage'],
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    const browser = {
        close: async () => {
            await ctx.close();
            fs.rmSync(profile, { recursive: true, force: true });
        },
    };
    return { browser, ctx, page, errors };
}

module.exports = { launch };
