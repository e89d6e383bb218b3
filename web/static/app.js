/* sotagw dashboard: plain JavaScript, no framework, no build step, no CDN.
 *
 * Data: GET /api/v1/devices (all pages), /summary, /events?tail=N, then
 * live updates from /api/v1/stream (read with fetch so the bearer token
 * can go in a header, never in a URL). When the stream fails, it polls
 * every POLL_MS until the stream comes back.
 *
 * The token is asked for once (before the first action, or when a read
 * answers 401) and kept in sessionStorage: it lives as long as the tab. */
'use strict';

const API = '/api/v1';
const POLL_MS = 5000;
const SUMMARY_MS = 10000;
const TOKEN_KEY = 'sotagw.token';

const st = {
    devices: new Map(),     /* imei -> device document */
    lastEvent: new Map(),   /* imei -> event */
    eventCursor: 0,
    live: false,
    view: 'fleet',
    deviceImei: null,
    renderQueued: false,
    layout: '',             /* hubs and modem order last rendered */
    dirty: new Set(),       /* modems changed since the last render */
    folded: new Set(),      /* hubs the user folded */
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) {
        if (k === null || k === undefined) continue;
        e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
}

/* ---- token and requests ------------------------------------------------ */

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

let tokenPrompt = null;
function askToken(why) {
    if (tokenPrompt) return tokenPrompt;
    const dlg = $('token-dialog');
    $('token-why').textContent = why ||
        'This action needs the gateway\'s API token (state_dir/token). ' +
        'It is kept for this browser tab only.';
    $('token-input').value = '';
    tokenPrompt = new Promise((resolve) => {
        const done = (ok) => {
            dlg.removeEventListener('close', onClose);
            tokenPrompt = null;
            resolve(ok);
        };
        const onClose = () => {
            const v = $('token-input').value.trim();
            if (dlg.returnValue === 'ok' && v) {
                sessionStorage.setItem(TOKEN_KEY, v);
                done(true);
            } else {
                done(false);
            }
        };
        dlg.addEventListener('close', onClose);
        dlg.returnValue = '';
        dlg.showModal();
        $('token-input').focus();
    });
    return tokenPrompt;
}

class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

/* One API call. write: ask for the token first if there is none. A 401
 * or 403 asks for it (again) and retries once. */
async function api(method, path, body, write) {
    if (write && !token() && !(await askToken())) {
        throw new ApiError(401, 'unauthorized', 'no token given');
    }
    for (let attempt = 0; ; attempt++) {
        const headers = {};
        if (token()) headers.Authorization = 'Bearer ' + token();
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const r = await fetch(API + path, {
            method, headers, cache: 'no-store',
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        if ((r.status === 401 || r.status === 403) && attempt === 0) {
            sessionStorage.removeItem(TOKEN_KEY);
            const why = r.status === 403 ? 'The token was not accepted. ' +
                'Enter the gateway\'s API token.' :
                'The gateway needs its API token to show this.';
            if (await askToken(why)) continue;
        }
        if (r.status === 204) return null;
        let doc = null;
        try { doc = await r.json(); } catch (e) { doc = null; }
        if (!r.ok) {
            const err = (doc && doc.error) || {};
            throw new ApiError(r.status, err.code || 'http_' + r.status,
                               err.message || r.statusText);
        }
        return doc;
    }
}

/* ---- formatting -------------------------------------------------------- */

function fmtBytes(n) {
    if (n === null || n === undefined) return '?';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(2) + ' MiB';
}

function fmtTime(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    return d.toLocaleString(undefined, { hour12: false });
}

function fmtAgo(ms) {
    if (!ms) return '';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
}

/* OneNET registration of the modem, from the daemon's live data. */
function regFailed(d) {
    return !!(d.registration && d.registration.state === 'failed');
}

function regText(d) {
    const r = d.registration;
    if (!r) return d.fault || '?';
    let t = r.state;
    if (r.failures) t += ', ' + r.failures + ' failed attempt' +
                         (r.failures === 1 ? '' : 's');
    if (r.reason) t += ': ' + r.reason;
    return t;
}

function signalText(rssi) {
    if (rssi === null || rssi === undefined) return 'signal ?';
    /* +CSQ 0..31: -113 + 2n dBm */
    return 'signal ' + rssi + ' (' + (-113 + 2 * rssi) + ' dBm)';
}

function pct(a, b) {
    if (!b) return 0;
    return Math.max(0, Math.min(100, Math.round((100 * a) / b)));
}

/* One hop's progress: the <progress> inside its <label>, so its name never
 * depends on id lookups while cards are replaced. */
function hop(name, value, total, id) {
    const p = pct(value, total);
    return el('label', { class: 'hop' },
        el('span', { text: name }),
        el('progress', { id, max: '100', value: String(p),
                         'aria-valuetext': p + '%' }),
        el('output', { text: p + '%' }));
}

/* ---- fleet ------------------------------------------------------------- */

function modemCard(d) {
    const j = d.job;
    const phase = j ? j.phase : 'idle';
    const classes = ['modem', d.state];
    if (j && j.overdue) classes.push('overdue');
    if (j && (phase === 'failed' || phase === 'done')) classes.push(phase);
    const ev = st.lastEvent.get(d.imei);
    const idp = 'm' + d.imei;
    const card = el('li', { class: classes.join(' '), id: 'card-' + d.imei,
                            'data-imei': d.imei, 'data-phase': phase },
        el('header', null,
            el('a', { href: '#/device/' + d.imei,
                      'aria-label': 'Modem ' + d.imei_masked + ', ' + phase,
                      text: d.imei_masked }),
            el('span', null,
                d.paused ? el('span', { class: 'badge paused',
                                        text: 'paused' }) : null, ' ',
                el('span', { class: 'badge ' + phase, text: phase }),
                j && j.overdue ? el('span', { class: 'badge flag',
                                              text: 'overdue' }) : null,
                regFailed(d) ? el('span', { class: 'badge flag',
                                            text: 'failed: registration',
                                            title: regText(d) }) : null)),
        el('div', { class: 'meta' },
            el('span', { text: d.usb_port ? 'port ' + d.usb_port :
                               (d.port || '?').split('/').pop(),
                         title: d.port || '' }),
            el('span', { text: signalText(d.rssi) }),
            el('span', { text: 'battery ' + (d.battery === null ? '?' :
                                             d.battery + '%') })),
        el('div', { class: 'meta' },
            el('span', { text: (d.sw_version || '?') +
                               (j ? ' → ' + j.version : '') }),
            d.state === 'absent' ? el('span', { class: 'badge',
                                                text: 'absent' }) : null),
        j ? hop('download', j.bytes, j.total, idp + '-dl') : null,
        j ? hop('flash', j.flash_acked || 0, j.total, idp + '-fl') : null,
        el('div', { class: 'ev', text: ev ? ev.kind + ' · ' +
                                            fmtAgo(ev.time_ms) : 'no events' }));
    return card;
}

function matches(d, f, onlyActive) {
    if (onlyActive && d.state !== 'upgrading') return false;
    if (!f) return true;
    const j = d.job;
    return d.imei.includes(f) || (d.usb_hub || '').includes(f) ||
        (j && j.phase.includes(f)) || d.state.includes(f);
}

function hubSummary(h, list) {
    const n = {};
    for (const d of list) {
        const p = d.job ? d.job.phase : 'idle';
        n[p] = (n[p] || 0) + 1;
    }
    const parts = ['download', 'check', 'flash', 'confirm', 'failed',
                   'done', 'idle'].filter((p) => n[p])
        .map((p) => n[p] + ' ' + p);
    return 'Hub ' + h + ': ' + list.length + ' modems' +
        (parts.length ? ' (' + parts.join(', ') + ')' : '');
}

/* Keep keyboard focus across a re-render: the same element by id. */
function withFocusKept(fn) {
    const a = document.activeElement;
    const card = a && a.closest ? a.closest('.modem, .hub') : null;
    const id = card ? card.id : null;
    const isSummary = a && a.tagName === 'SUMMARY';
    fn();
    if (!id) return;
    const again = document.getElementById(id);
    if (!again) return;
    const target = isSummary ? again.querySelector('summary') :
        again.querySelector('a');
    if (target) target.focus({ preventScroll: true });
}

/* The fleet view. When the set and order of shown modems is unchanged,
 * only the cards of modems that changed are replaced (cheap at 256 modems
 * and two updates a second, and focus stays where it was); otherwise the
 * hubs are rebuilt. Each hub is a <details> the user can fold; folds are
 * kept. */
function renderFleet() {
    const f = $('filter').value.trim().toLowerCase();
    const onlyActive = $('only-active').checked;
    const hubs = new Map();
    for (const d of st.devices.values()) {
        if (!matches(d, f, onlyActive)) continue;
        const h = d.usb_hub || 'no hub';
        if (!hubs.has(h)) hubs.set(h, []);
        hubs.get(h).push(d);
    }
    const names = [...hubs.keys()].sort((a, b) =>
        a.localeCompare(b, undefined, { numeric: true }));
    for (const h of names)
        hubs.get(h).sort((a, b) =>
            (a.usb_port || 999) - (b.usb_port || 999) ||
            (a.port || '').localeCompare(b.port || ''));
    const layout = names.map((h) => h + ':' +
        hubs.get(h).map((d) => d.imei).join(',')).join(';');
    withFocusKept(() => {
        if (layout === st.layout && $('hubs').childElementCount) {
            for (const imei of st.dirty) {
                const old = document.getElementById('card-' + imei);
                const d = st.devices.get(imei);
                if (old && d) old.replaceWith(modemCard(d));
            }
            for (const h of names) {
                const s = document.getElementById(hubId(h));
                if (s) s.querySelector('summary').textContent =
                    hubSummary(h, hubs.get(h));
            }
        } else {
            const frag = document.createDocumentFragment();
            for (const h of names) {
                const list = hubs.get(h);
                const det = el('details', { class: 'hub', id: hubId(h),
                                            open: !st.folded.has(h) },
                    el('summary', { text: hubSummary(h, list) }),
                    el('ul', { class: 'modems',
                               'aria-label': 'Modems on hub ' + h },
                       ...list.map(modemCard)));
                det.addEventListener('toggle', () => {
                    if (det.open) st.folded.delete(h);
                    else st.folded.add(h);
                });
                frag.append(det);
            }
            if (!names.length)
                frag.append(el('p', { text: st.devices.size ?
                    'No modem matches.' : 'No modems yet.' }));
            $('hubs').replaceChildren(frag);
            st.layout = layout;
        }
    });
    st.dirty.clear();
}

function hubId(h) {
    return 'hub-' + h.replace(/[^a-z0-9]/gi, '_');
}

/* Re-render at most once per animation frame, whatever the update rate. */
function scheduleRender() {
    if (st.renderQueued) return;
    st.renderQueued = true;
    requestAnimationFrame(() => {
        st.renderQueued = false;
        if (st.view === 'fleet') renderFleet();
        else if (st.view === 'device') renderDevice();
    });
}

/* The tiles follow the cards: at most one /summary every 2 s while
 * devices change, besides the periodic refresh. */
let summaryTimer = null;
function scheduleSummary() {
    if (summaryTimer) return;
    summaryTimer = setTimeout(() => {
        summaryTimer = null;
        loadSummary();
    }, 2000);
}

async function loadSummary() {
    try {
        const s = await api('GET', '/summary');
        const ph = s.jobs_by_phase;
        const tiles = [
            ['modems', Object.values(s.devices_by_state).reduce((a, b) =>
                a + b, 0)],
            ['upgrading', s.devices_by_state.upgrading],
            ['download', ph.download], ['check', ph.check],
            ['flash', ph.flash], ['confirm', ph.confirm],
            ['done', ph.done], ['failed', ph.failed, ph.failed > 0],
            ['overdue', s.overdue, s.overdue > 0],
            ['throughput', fmtBytes(Math.round(s.throughput_bytes_per_s)) +
                           '/s'],
        ];
        $('tiles').replaceChildren(...tiles.map(([k, n, bad]) =>
            el('li', { class: bad ? 'bad' : null },
                el('span', { class: 'n', text: n }),
                el('span', { class: 'k', text: k }))));
    } catch (e) {
        /* The next round retries. */
    }
}

async function loadDevices() {
    const all = new Map();
    let cursor = '';
    for (let i = 0; i < 100; i++) {
        const doc = await api('GET', '/devices?limit=1000' +
            (cursor ? '&cursor=' + cursor : ''));
        for (const d of doc.items) all.set(d.imei, d);
        if (!doc.next) break;
        cursor = doc.next;
    }
    st.devices = all;
    st.layout = '';
}

function noteEvent(e) {
    if (e.id > st.eventCursor) st.eventCursor = e.id;
    if (e.imei) st.lastEvent.set(e.imei, e);
    if (st.view === 'device' && e.imei === st.deviceImei)
        $('timeline').prepend(timelineItem(e));
}

async function loadEvents() {
    const doc = await api('GET', '/events?tail=1000');
    for (const e of doc.items) noteEvent(e);
    st.eventCursor = Math.max(st.eventCursor, doc.next || 0);
}

async function reloadAll() {
    await loadDevices();
    await loadEvents();
    scheduleRender();
    loadSummary();
}

/* ---- live updates ------------------------------------------------------ */

function setLive(on, text) {
    st.live = on;
    const p = $('live');
    p.className = 'live ' + (on ? 'on' : 'off');
    p.textContent = text;
}

function onMessage(raw) {
    let kind = 'message', data = '';
    for (const line of raw.split('\n')) {
        if (line.startsWith('event: ')) kind = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (kind === 'hello' || kind === 'resync') {
        reloadAll().catch(() => {});
        return;
    }
    if (!data) return;
    let doc;
    try { doc = JSON.parse(data); } catch (e) { return; }
    if (kind === 'device') {
        st.devices.set(doc.imei, doc);
        st.dirty.add(doc.imei);
        scheduleRender();
        scheduleSummary();
    } else if (kind === 'event') {
        noteEvent(doc);
        if (doc.imei) st.dirty.add(doc.imei);
        scheduleRender();
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll() {
    try {
        await loadDevices();
        const doc = await api('GET', '/events?since=' + st.eventCursor +
                                     '&limit=1000');
        for (const e of doc.items) noteEvent(e);
        scheduleRender();
    } catch (e) {
        setLive(false, 'Gateway unreachable, retrying');
    }
}

async function streamLoop() {
    for (;;) {
        try {
            const headers = {};
            if (token()) headers.Authorization = 'Bearer ' + token();
            const r = await fetch(API + '/stream', { headers,
                                                     cache: 'no-store' });
            if (r.status === 401 || r.status === 403) {
                await api('GET', '/summary');   /* asks for the token */
                continue;
            }
            if (!r.ok || !r.body) throw new Error('stream ' + r.status);
            setLive(true, 'Live');
            const reader = r.body.getReader();
            const dec = new TextDecoder();
            let buf = '';
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buf += dec.decode(value, { stream: true });
                let i;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    onMessage(buf.slice(0, i));
                    buf = buf.slice(i + 2);
                }
            }
        } catch (e) {
            /* fall through to polling */
        }
        setLive(false, 'Polling every ' + POLL_MS / 1000 + ' s');
        await poll();
        await sleep(POLL_MS);
    }
}

/* ---- device page ------------------------------------------------------- */

function timelineItem(e) {
    const detail = e.detail === null || e.detail === '' ? '' :
        (typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail));
    return el('li', null,
        el('time', { datetime: new Date(e.time_ms).toISOString(),
                     text: fmtTime(e.time_ms) }),
        el('strong', { text: e.kind }), ' by ', e.actor,
        detail ? el('div', null, el('code', { text: detail })) : null);
}

function kv(pairs) {
    const dl = el('dl', { class: 'kv' });
    for (const [k, v] of pairs) dl.append(el('dt', { text: k }),
                                         el('dd', { text: v }));
    return dl;
}

function renderDevice() {
    const d = st.devices.get(st.deviceImei);
    const body = $('device-body');
    if (!d) {
        body.replaceChildren(el('p', { class: 'error',
                                       text: 'No such modem.' }));
        return;
    }
    $('device-title').textContent = 'Modem ' + d.imei_masked;
    const j = d.job;
    const parts = [kv([
        ['IMEI', d.imei], ['ICCID', d.iccid || '?'], ['State', d.state +
            (d.paused ? ' (paused)' : '')],
        ['Port', (d.port || '?') + (d.usb_hub ? ' · hub ' + d.usb_hub +
            ' port ' + d.usb_port : '')],
        ['Signal', signalText(d.rssi) + (d.readings_ms ?
            ' (read ' + fmtAgo(d.readings_ms) + ')' : '')],
        ['Network', d.reg_status === null ? '?' :
            'CEREG ' + String(d.reg_status)],
        ['OneNET', regText(d)],
        ['Fault', d.fault || 'none'],
        ['Version', (d.sw_version || '?') + ' → ' + (j ? j.version : '–')],
        ['Battery', d.battery === null ? '?' : d.battery + '%'],
        ['Free space', d.free_kib === null ? '?' : d.free_kib + ' KiB'],
        ['Target', (d.target.uri || 'none') + ' (' + d.target.source +
            (d.target.reachable === null ? '' : d.target.reachable ?
                ', reachable' : ', unreachable') + ')'],
    ])];
    if (j) {
        parts.push(el('h3', { text: 'Job ' + j.id + ': ' + j.phase +
                                    (j.overdue ? ' (overdue)' : '') }));
        parts.push(hop('download', j.bytes, j.total, 'dev-dl'));
        parts.push(hop('flash', j.flash_acked || 0, j.total, 'dev-fl'));
        parts.push(kv([
            ['Bytes', fmtBytes(j.bytes) + ' of ' + fmtBytes(j.total)],
            ['Result', String(j.result)], ['Reason', j.reason || '–'],
            ['Started', fmtTime(j.started_ms)],
            ['Last progress', fmtTime(j.progress_ms) + ' ' +
                              fmtAgo(j.progress_ms)],
            ['Ended', fmtTime(j.ended_ms)],
        ]));
    }
    body.replaceChildren(...parts);
}

async function openDevice(imei) {
    st.deviceImei = imei;
    $('action-result').textContent = '';
    $('timeline').replaceChildren();
    try {
        const d = await api('GET', '/devices/' + imei);
        st.devices.set(d.imei, d);
        $('target-uri').value = d.target.source === 'api' ? d.target.uri : '';
        renderDevice();
        const items = [];
        let since = 0;
        for (let i = 0; i < 20; i++) {
            const doc = await api('GET', '/devices/' + imei +
                                  '/events?limit=1000&since=' + since);
            items.push(...doc.items);
            if (!doc.items.length) break;
            since = doc.next;
        }
        $('timeline').replaceChildren(...items.reverse().slice(0, 500)
                                               .map(timelineItem));
    } catch (e) {
        $('device-body').replaceChildren(el('p', { class: 'error',
                                                   text: e.message }));
    }
}

async function doAction(name) {
    const out = $('action-result');
    out.className = '';
    out.textContent = name + '…';
    try {
        const d = await api('POST', '/devices/' + st.deviceImei + '/' + name,
                            undefined, true);
        st.devices.set(d.imei, d);
        renderDevice();
        out.textContent = name + ': done';
    } catch (e) {
        out.className = 'error';
        out.textContent = name + ' refused: ' + e.message;
    }
}

async function setTarget(ev) {
    ev.preventDefault();
    const out = $('action-result');
    const v = $('target-uri').value.trim();
    try {
        const d = await api('PUT', '/devices/' + st.deviceImei + '/target',
                            { uri: v || null }, true);
        st.devices.set(d.imei, d);
        renderDevice();
        out.className = '';
        out.textContent = v ? 'target set' : 'target from the config';
    } catch (e) {
        out.className = 'error';
        out.textContent = 'target refused: ' + e.message;
    }
}

/* ---- packages ---------------------------------------------------------- */

async function loadPackages() {
    const rows = [];
    try {
        const doc = await api('GET', '/packages?limit=1000');
        for (const p of doc.items) {
            const del = el('button', { type: 'button', class: 'link',
                                       'aria-label': 'Delete package ' +
                                           p.version, text: 'Delete' });
            del.addEventListener('click', () => deletePackage(p.id));
            rows.push(el('tr', null, el('td', { text: p.id }),
                el('td', { text: p.version }),
                el('td', { text: fmtBytes(p.size) }),
                el('td', { class: 'mono', text: p.md5 }),
                el('td', { text: p.notes }),
                el('td', { text: fmtTime(p.created_ms) }),
                el('td', null, del)));
        }
    } catch (e) {
        rows.push(el('tr', null, el('td', { colspan: '7', class: 'error',
                                            text: e.message })));
    }
    if (!rows.length)
        rows.push(el('tr', null, el('td', { colspan: '7',
                                            text: 'No packages.' })));
    $('packages').replaceChildren(...rows);
}

async function deletePackage(id) {
    const out = $('package-result');
    try {
        await api('DELETE', '/packages/' + id, undefined, true);
        out.className = '';
        out.textContent = 'package ' + id + ' removed';
    } catch (e) {
        out.className = 'error';
        out.textContent = 'not removed: ' + e.message;
    }
    loadPackages();
}

async function registerPackage(ev) {
    ev.preventDefault();
    const f = ev.target;
    const out = $('package-result');
    const body = { version: f.version.value.trim(), md5: f.md5.value.trim(),
                   size: Number(f.size.value) };
    if (f.notes.value.trim()) body.notes = f.notes.value.trim();
    try {
        const p = await api('POST', '/packages', body, true);
        out.className = '';
        out.textContent = 'registered as package ' + p.id;
        f.reset();
    } catch (e) {
        out.className = 'error';
        out.textContent = 'refused: ' + e.message;
    }
    loadPackages();
}

/* ---- routing ----------------------------------------------------------- */

function route() {
    const h = location.hash || '#/';
    const m = /^#\/device\/([0-9]{15})$/.exec(h);
    st.view = m ? 'device' : h === '#/packages' ? 'packages' : 'fleet';
    $('view-fleet').hidden = st.view !== 'fleet';
    $('view-device').hidden = st.view !== 'device';
    $('view-packages').hidden = st.view !== 'packages';
    $('nav-fleet').toggleAttribute('aria-current', st.view === 'fleet');
    $('nav-packages').toggleAttribute('aria-current',
                                      st.view === 'packages');
    if (st.view === 'fleet') $('nav-fleet').setAttribute('aria-current',
                                                         'page');
    if (st.view === 'packages') $('nav-packages').setAttribute(
        'aria-current', 'page');
    if (st.view === 'device') openDevice(m[1]);
    else if (st.view === 'packages') loadPackages();
    else scheduleRender();
    $('main').focus({ preventScroll: true });
}

function init() {
    $('token-cancel').addEventListener('click', () =>
        $('token-dialog').close(''));
    $('filter').addEventListener('input', scheduleRender);
    $('only-active').addEventListener('change', scheduleRender);
    for (const b of document.querySelectorAll('[data-action]'))
        b.addEventListener('click', () => doAction(b.dataset.action));
    $('target-form').addEventListener('submit', setTarget);
    $('package-form').addEventListener('submit', registerPackage);
    window.addEventListener('hashchange', route);
    route();
    reloadAll().catch(() => {});
    setInterval(loadSummary, SUMMARY_MS);
    /* "2 min ago" and the overdue flags age without any message. */
    setInterval(() => {
        if (st.view !== 'fleet') return;
        st.layout = '';
        scheduleRender();
    }, 30000);
    streamLoop();
}

document.addEventListener('DOMContentLoaded', init);
