#!/usr/bin/env node
// browser.test.js BASE_URL TOKEN OUTDIR MODEMS: the dashboard in headless
// Chromium against a live gateway (the daemon with the simulated fleet, or
// web-fixture with --tick-ms).
//
// Checks, in order: the page loads and shows MODEMS modem cards with no
// console error; the stream is live and some download progress bar
// advances without a reload; a device page opens with its timeline; Pause
// from the page (asking for the token once) shows in the API (the device
// reads paused and the audit trail names the API actor); a screenshot at
// desktop and at phone width goes to OUTDIR. Resume is pressed at the end
// so the fleet can finish.
//
// Every wait polls a condition with a generous deadline; nothing sleeps
// for a fixed time to decide an outcome. Exit 0 pass, 1 fail.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { launch } = require('./lib.js');

const [base, token, outdir, modemsArg] = process.argv.slice(2);
if (!base || !token || !outdir || !modemsArg) {
    console.error('usage: browser.test.js BASE_URL TOKEN OUTDIR MODEMS');
    process.exit(2);
}
const MODEMS = Number(modemsArg);

async function api(p, method) {
    const r = await fetch(base + '/api/v1' + p, {
        method: method || 'GET',
        headers: { Authorization: 'Bearer ' + token },
    });
    assert.ok(r.ok, p + ' -> ' + r.status);
    return r.json();
}

function step(name) {
    console.log('browser: ' + name);
}

async function progressValues(page) {
    return page.$$eval('#hubs progress[id$="-dl"]', (els) =>
        Object.fromEntries(els.map((e) => [e.id, Number(e.value)])));
}

let noBackend = false;
let ok = false;

/* Screenshots, the packages page, the console check. resume: press Resume
 * (the token is asked once per session: no dialog this time). */
async function finish(page, resume) {
    step('screenshots');
    await page.screenshot({ path: path.join(outdir, 'device.png') });
    if (resume) {
        await page.click('button[data-action="resume"]');
        await page.waitForFunction(() => /^resume(: done| refused)/.test(
            document.getElementById('action-result').textContent),
            null, { timeout: 30000 });
        assert.strictEqual(await page.$('#token-dialog[open]'), null);
    }
    await page.goto(base + '/#/', { waitUntil: 'load' });
    await page.waitForSelector('#hubs .modem');
    await page.screenshot({ path: path.join(outdir, 'dashboard.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(outdir, 'phone.png') });
    await page.goto(base + '/#/packages', { waitUntil: 'load' });
    await page.waitForSelector('#packages tr');
    ok = true;
}

(async () => {
    fs.mkdirSync(outdir, { recursive: true });
    const { browser, page, errors } = await launch({ width: 1366,
                                                     height: 900 });
    try {
        step('load');
        await page.goto(base + '/', { waitUntil: 'load' });
        await page.waitForFunction((n) =>
            document.querySelectorAll('#hubs .modem').length >= n,
            MODEMS, { timeout: 120000 });
        await page.waitForFunction(() =>
            document.getElementById('live').textContent === 'Live',
            null, { timeout: 30000 });
        const title = await page.title();
        assert.strictEqual(title, 'sotagw');
        // Every form control and progress bar has an accessible name: an
        // enclosing <label>, a <label for=id>, or aria-label. (The markup
        // is checked; Chromium's element.labels can lag behind cards
        // replaced a moment ago.)
        const unlabelled = await page.$$eval(
            'input, textarea, select, progress', (els) => els
                .filter((e) => !e.closest('label') &&
                    !(e.id && document.querySelector(
                        'label[for="' + CSS.escape(e.id) + '"]')) &&
                    !e.getAttribute('aria-label'))
                .map((e) => e.outerHTML.slice(0, 80)));
        assert.deepStrictEqual(unlabelled, [], 'unlabelled controls');

        step('progress advances live');
        await page.waitForSelector('#hubs .modem[data-phase="download"]',
                                   { timeout: 180000 });
        const before = await progressValues(page);
        await page.waitForFunction((prev) => {
            for (const e of document.querySelectorAll(
                '#hubs progress[id$="-dl"]')) {
                if (e.id in prev && Number(e.value) > prev[e.id]) return true;
            }
            return false;
        }, before, { timeout: 120000, polling: 200 });

        step('device page');
        const card = await page.$('#hubs .modem[data-phase="download"]') ||
                     await page.$('#hubs .modem');
        const imei = await card.getAttribute('data-imei');
        // By keyboard: focus the modem's link and press Enter.
        await (await card.$('header a')).focus();
        await page.keyboard.press('Enter');
        await page.waitForFunction((i) => location.hash === '#/device/' + i,
                                   imei, { timeout: 10000 });
        await page.waitForSelector('#view-device:not([hidden])');
        await page.waitForFunction(() =>
            document.querySelectorAll('#timeline li').length > 0,
            null, { timeout: 30000 });
        const shown = await page.textContent('#device-body');
        assert.ok(shown.includes(imei), 'device page shows the IMEI');

        step('pause from the page');
        await page.click('button[data-action="pause"]');
        await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
        await page.fill('#token-input', token);
        await page.click('#token-form button[value="ok"]');
        await page.waitForFunction(() => /^pause(: done| refused)/.test(
            document.getElementById('action-result').textContent),
            null, { timeout: 30000 });
        const result = await page.textContent('#action-result');
        const health = await api('/healthz');
        if (!health.daemon) {
            // The server runs without the daemon's backend (web/backend.h):
            // actions answer 503 and nothing can be paused. Everything
            // else is checked; the pause cannot be, and that is said.
            assert.match(result, /needs the running daemon/);
            noBackend = true;
        } else {
            const dev = await api('/devices/' + imei);
            const ev = await api('/devices/' + imei + '/events?limit=1000');
            const pauses = ev.items.filter((e) => e.kind === 'action.pause');
            assert.ok(pauses.length >= 1, 'the pause is in the audit trail');
            assert.match(pauses[pauses.length - 1].actor, /^api:[0-9a-f]{8}$/);
            if (result.startsWith('pause: done'))
                assert.strictEqual(dev.paused, true, 'the API reads paused');
            else
                console.log('browser: the daemon refused the pause (' + result +
                            '), recorded as ' +
                            pauses[pauses.length - 1].detail.outcome);
        }
        await finish(page, !noBackend);
    } catch (e) {
        console.error('browser: FAILED: ' + (e && e.stack || e));
        try {
            await page.screenshot({ path: path.join(outdir, 'failure.png') });
        } catch (e2) { /* the page is gone */ }
    } finally {
        await browser.close();
    }
    // The 503 of the refused action is the only error allowed, and only
    // without a backend.
    const real = errors.filter((e) => !(noBackend && /status of 503/.test(e)));
    for (const e of real) console.error('browser: console error: ' + e);
    if (real.length) ok = false;
    console.log('browser: screenshots in ' + outdir);
    if (ok && noBackend) {
        console.log('SKIPPED: the daemon serves the API without its backend ' +
                    '(web/backend.h): the pause could not be checked; ' +
                    'load, live progress, device page passed');
        process.exit(77);
    }
    console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
    process.exit(ok ? 0 : 1);
})();
