/*! Beckon snippet: wire protocol v1, see snippet/PROTOCOL.md. One global, no DOM changes. */
(function (w, d) {
  'use strict';
  const stub = w.Beckon;
  if (stub && stub._loaded) return; // loaded twice: the first copy runs

  const URGENT = { pv: 1, err: 1, svc: 1, cart: 1, id: 1, code: 1, buy: 1 };
  const PUBLIC = { cart: 1, identify: 1, consent: 1, servicePoint: 1, accessCode: 1, purchase: 1, contact: 1 };
  const FORM = 'form[data-beckon-form]';
  const WATCH = '[data-beckon-service-point],[data-beckon-error],[aria-invalid="true"],' + FORM;
  const ID = /^[A-Za-z0-9_-]{8,64}$/;
  const TEXT = 'text/plain;charset=UTF-8';
  const done = Promise.resolve();
  let said;

  const debug = x => { if (!said) { said = 1; console.debug('[beckon]', x); } };
  // Listeners, timers and API calls run guarded: nothing may throw into the page.
  const guard = fn => function (...a) { try { return fn.apply(this, a); } catch (e) { debug(e); } };
  const on = (t, type, fn) => t.addEventListener(type, guard(fn), true);
  const now = () => Date.now();
  const mono = () => performance.now();
  const cut = (s, n) => s == null ? '' : String(s).trim().slice(0, n);
  const ms = x => Math.max(0, Math.min(36e5, Math.round(x)));
  const rid = n => Array.from(crypto.getRandomValues(new Uint32Array(n)), x => (x + 1e10).toString(36)).join('');

  // Our <script> tag: currentScript is null in modules and some loaders.
  let tag = d.currentScript;
  if (!tag || !tag.hasAttribute('data-site')) {
    tag = d.querySelector('script[data-site][src*="/b.js"]') || d.querySelector('script[data-site]');
  }
  const attr = n => tag && tag.getAttribute(n);
  const site = attr('data-site'), needConsent = attr('data-consent') === 'required';
  let endpoint;
  try {
    endpoint = ID.test(site) && new URL(attr('data-endpoint') || new URL(tag.src).origin + '/v1/events', d.baseURI).href;
  } catch (e) { /* inline or missing tag */ }
  if (!endpoint) debug('no data-site or endpoint');

  const B = stub && typeof stub === 'object' ? stub : {}; // the page may hold on to the stub
  const backlog = [].slice.call(B.q || []);
  const hooks = {};
  let queue = []; // oldest first: {p: pid, e: event}
  let stopped = !endpoint, consent, storeOk = !needConsent; // consent required: no storage before it
  let vid, pid, curUrl, inflight, flushTimer, retryAt = 0, backoff = 0, mods = {};
  let hbMs = 15e3, hbTimer, engagedAt = 0, dwell = 0, fieldEl, fieldAt, svcSeen, errs, intent;

  function store(k, v) {
    try {
      if (!storeOk) return null;
      if (v === undefined) return localStorage.getItem(k);
      if (v === null) localStorage.removeItem(k); else localStorage.setItem(k, v);
    } catch (e) { return null; }
  }
  function loadVid(v) {
    const s = store('beckon.vid');
    return ID.test(s) ? s : (store('beckon.vid', v), v);
  }
  function visit(path) {
    let m;
    try { m = JSON.parse(store('beckon.visits')); } catch (e) { /* corrupt */ }
    if (!m || typeof m !== 'object') m = {};
    path = cut(path, 200);
    const n = Math.min(1e5, Math.max(0, m[path] | 0));
    delete m[path];
    m[path] = n + 1; // re-inserted: key order is recency order, for the cap
    Object.keys(m).slice(0, -50).forEach(k => delete m[k]);
    store('beckon.visits', JSON.stringify(m));
    return n;
  }
  const emit = (name, data) => (hooks[name] || []).forEach(fn => guard(fn)(data));

  function add(t, f) {
    if (stopped || !pid) return;
    queue.push({ p: t === 'buy' ? pid + '-b' : pid, e: Object.assign({ t }, f, { ts: now() }) });
    queue.splice(0, queue.length - 200);
    if (URGENT[t]) soon(1e3);
  }
  const canSend = () => !stopped && (consent || !needConsent);
  // pid is per batch: ≤50 events of one page view (< 64 KiB, as fields are cut).
  function take() {
    const p = queue[0] && queue[0].p;
    let n = 0;
    while (n < queue.length && n < 50 && queue[n].p === p) n++;
    if (!n) return;
    const items = queue.splice(0, n);
    const o = { v: 1, site, vid, pid: p };
    if (consent) o.consent = true;
    if (B.tok) o.tok = B.tok;
    o.events = items.map(x => x.e);
    return { items, body: JSON.stringify(o) };
  }
  function soon(delay) { // a pending flush re-plans itself if it is too early
    flushTimer = flushTimer || setTimeout(guard(() => { flushTimer = 0; flush(); }), delay);
  }
  // text/plain: no CORS preflight. Never rejects.
  const send = b => done
    .then(() => fetch(endpoint, { method: 'POST', body: b.body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': TEXT } }))
    .then(res => {
      const st = res.status;
      if (res.ok) { backoff = retryAt = 0; return res.json().then(answer, debug); }
      if (st === 429 || st > 499) fail(b.items, (st === 429 || st === 503) && res.headers.get('Retry-After'));
      else debug('batch dropped: HTTP ' + st); // other 4xx never succeed
    }, () => fail(b.items))
    .catch(debug);
  function fail(items, after) {
    queue = items.concat(queue);
    queue.splice(0, queue.length - 200);
    backoff = Math.min(backoff * 2 || 2e3, 3e5);
    after = Math.max(backoff, Math.min(parseInt(after, 10) * 1e3, 36e5) || 0);
    retryAt = now() + after;
    soon(after);
  }
  function flush() {
    const left = retryAt - now();
    let b;
    if (left > 0) soon(left);
    if (!canSend() || inflight || left > 0 || !(b = take())) return done;
    inflight = 1;
    return send(b).then(() => {
      inflight = 0;
      if (queue.length) soon(0); // another page view's events, or newer ones
    });
  }
  // A beacon outlives the page. pagehide (last) ignores the backoff and says goodbye, so
  // the server stops offering help to a page that is gone.
  function hide(last) {
    let b;
    takeDwell();
    closeField(); // leaving with focus in a field: no blur comes
    if (last) add('bye');
    emit('hide', last);
    while (canSend() && (last || retryAt <= now()) && (b = take())) {
      try { if (navigator.sendBeacon(endpoint, new Blob([b.body], { type: TEXT }))) continue; } catch (e) { /* */ }
      send(b);
    }
  }
  // Modules load only when needed (o.js offers, f.js forms); import() adds nothing to the DOM.
  const mod = n => mods[n] = mods[n] || import(new URL('/' + n + '.js', endpoint).href).catch(() => { mods[n] = 0; });
  function answer(j) {
    if (!j) return;
    const hb = j.hb > 0 && Math.round(Math.min(300, Math.max(5, j.hb)) * 1e3);
    if (hb && hb !== hbMs) { hbMs = hb; startHb(); }
    // The visitor's token: given to the visit's first page, kept for its other tabs.
    if (j.tok && j.tok !== B.tok) store('beckon.tok', B.tok = j.tok);
    else if (!j.tok && !B.tok) B.tok = store('beckon.tok') || undefined;
    emit('answer', j);
    if (j.watch || j.cmd != null) {
      mod('o').then(guard(() => {
        if (j.watch && B._watch) B._watch();
        if (j.cmd != null && B._command) B._command(j.cmd);
      }));
    }
  }

  // Dwell: visible AND focused time only.
  const visible = () => d.visibilityState === 'visible';
  function startHb() {
    clearTimeout(hbTimer);
    hbTimer = !stopped && visible() && setTimeout(guard(beat), hbMs);
  }
  // No beats while we cannot send: they would push the pv out of the queue.
  function beat() {
    try { if (visible() && canSend() && retryAt <= now()) { add('hb'); takeDwell(); flush(); } } finally { startHb(); }
  }
  function tick() {
    const t = mono();
    if (engagedAt) dwell += t - engagedAt;
    engagedAt = !stopped && visible() && d.hasFocus() && t;
  }
  function takeDwell() {
    tick();
    const v = ms(dwell);
    dwell = 0;
    if (v) add('dwell', { ms: v });
  }

  // Fragments can carry tokens: keep only hash routes (#/ or #!).
  const here = () => location.href.split('#')[0] + (/^#[/!]/.test(location.hash) ? location.hash : '');
  function pageView(ref) {
    if (pid) { takeDwell(); closeField(); }
    B.pid = pid = rid(3);
    curUrl = here();
    svcSeen = new Set();
    errs = intent = 0;
    add('pv', { url: cut(curUrl, 2048), title: cut(d.title, 300), ref: cut(ref, 2048), visits: visit(location.pathname),
      lang: cut(navigator.language || d.documentElement.lang, 35) });
    tick();
    startHb();
    scan(d.documentElement);
    emit('pv', pid);
  }
  const route = () => { if (!stopped && here() !== curUrl) pageView(curUrl); };

  const isField = el => !!el && (/^(SELECT|TEXTAREA)$/.test(el.tagName) ||
    el.tagName === 'INPUT' && !/^(hidden|submit|button|reset|image)$/.test(el.type));
  // Attributes: a field named "name" shadows form.name.
  const key = el => cut(el.getAttribute('name') || el.getAttribute('id') || el.tagName.toLowerCase(), 100);
  function closeField() {
    const v = fieldEl && ms(mono() - fieldAt);
    if (v) add('field', { name: key(fieldEl), ms: v }); // the time, never the value
    fieldEl = 0;
  }
  // One submit attempt (click or Enter on submit, or a submit event) counts once, and each of
  // its fields once, however many ways the browser and the page's own checks report them.
  const attempt = f => intent && intent.f === f && now() - intent.at < 1e3 && intent;
  const tried = f => (intent = { f, at: now(), n: new Set() });
  function err(el, kind, msg) {
    const a = attempt(el.form);
    if (a) { if (a.n.has(el)) return; a.n.add(el); }
    if (++errs > 50) return;
    add('err', msg ? { field: key(el), kind, msg: cut(msg, 200) } : { field: key(el), kind });
  }
  // checkValidity() without firing `invalid` at the page's own handlers.
  function submitErr(form) {
    const a = attempt(form) || tried(form);
    const n = [].filter.call(form.elements || [], el => el.willValidate && !el.validity.valid).length;
    if (n && !a.s) { a.s = 1; err(form, 'submit', n + ' invalid'); }
  }
  function svc(name) {
    name = cut(name, 64);
    if (name && !svcSeen.has(name)) { svcSeen.add(name); add('svc', { point: name }); }
  }
  // root and its watched descendants; errors too if `seen` is given
  function scan(root, seen) {
    [root, ...root.querySelectorAll(WATCH)].forEach(el => {
      if (!el.matches(WATCH)) return;
      if (el.matches(FORM) && canSend()) mod('f'); // f.js sends it once submitted
      svc(el.getAttribute('data-beckon-service-point'));
      if (!seen || seen.has(el)) return;
      seen.add(el);
      if (el.getAttribute('aria-invalid') === 'true') err(el, 'aria');
      if (el.hasAttribute('data-beckon-error')) err(el, 'marked', el.getAttribute('data-beckon-error'));
    });
  }
  function observe(recs) {
    const seen = new Set(); // an element can appear in several records of one batch
    recs.forEach(r => {
      const el = r.target, a = r.attributeName, v = a && el.getAttribute(a), aria = a === 'aria-invalid';
      if (!a) {
        r.addedNodes.forEach(n => n.nodeType === 1 && scan(n, seen));
      } else if (a === 'data-beckon-service-point') {
        svc(v);
      } else if (!seen.has(el) && (aria ? v === 'true' && r.oldValue !== 'true' : v !== null && r.oldValue === null)) {
        seen.add(el);
        err(el, aria ? 'aria' : 'marked', !aria && v);
      }
    });
  }

  const api = fn => { fn = guard(fn); return (...a) => { if (!stopped) fn(...a); }; };
  const call = a => { if (a && PUBLIC[a[0]]) B[a[0]](...[].slice.call(a, 1)); };
  try {
    // One bad event gets its whole batch refused: check first.
    B.cart = api((value, currency) => {
      currency = String(currency).toUpperCase();
      if (value >= 0 && value <= 1e9 && /^[A-Z]{3}$/.test(currency)) add('cart', { value: +value, currency });
    });
    // Dropped if too long: a cut id or e-mail is someone else's.
    B.identify = api(o => {
      const f = {}, lim = { id: 128, email: 254, name: 128, signature: 128, area: 32 };
      for (const k in lim) {
        const v = cut(o && o[k], 300);
        if (v && v.length <= lim[k] && (k !== 'email' || v.includes('@'))) f[k] = v;
      }
      if (f.signature) { f.sig = f.signature; delete f.signature; }
      if (f.id || f.email || f.name) add('id', f);
    });
    // The order's own fields only, in a batch of its own (add); the server checks each.
    B.purchase = api(o => {
      o = JSON.parse(JSON.stringify(o, ['order_id', 'value', 'currency', 'items',
        'sku', 'name', 'qty', 'price', 'category']));
      o.currency = String(o.currency).toUpperCase();
      if (/^[!-~]{1,64}$/.test(o.order_id) && /^\d+(\.\d+)?$/.test(o.value) && /^[A-Z]{3}$/.test(o.currency)) {
        add('buy', o);
      }
    });
    B.servicePoint = api(svc);
    B.accessCode = api(code => { code = cut(code, 64); if (code) add('code', { code }); });
    B.consent = api(yes => {
      if (yes) {
        consent = true;
        if (!storeOk) { storeOk = true; B.vid = vid = loadVid(vid || rid(4)); }
        soon(1e3);
      } else { // forget the visitor; timers see `stopped`
        storeOk = stopped = true;
        queue = [];
        store('beckon.vid', null);
        store('beckon.tok', null);
        store('beckon.visits', null);
      }
    });
    B.flush = guard(() => canSend() && flush() || done);
    B.contact = api(() => mod('f').then(() => B._contact && B._contact()));
    // Hooks for later modules: 'pv', 'answer', 'hide'.
    B._on = (name, fn) => { (hooks[name] = hooks[name] || []).push(fn); };
    B._emit = emit;
    B._loaded = true;
    B.endpoint = endpoint;
    B.site = site;
    B.q = { push: (...a) => a.forEach(call) }; // Beckon.q.push([...]) still works after load
    w.Beckon = B;
  } catch (e) { return debug(e); }

  try {
    // Queued consent calls first, so this page view counts visits.
    backlog.forEach(a => a && a[0] === 'consent' && call(a));
    if (!stopped) {
      B.vid = vid = loadVid(rid(4));
      B.tok = store('beckon.tok') || undefined;
      pageView(d.referrer);

      on(d, 'visibilitychange', () => {
        tick();
        if (visible()) { startHb(); flush(); } else hide();
      });
      on(w, 'focus', tick);
      on(w, 'blur', tick);
      on(w, 'pagehide', () => hide(1));
      on(w, 'pageshow', e => e.persisted && !stopped && pageView(d.referrer)); // back/forward cache

      // SPA navigation: pushState and popstate are page views, replaceState is not.
      const push = history.pushState;
      history.pushState = function (...a) {
        const r = push.apply(this, a);
        guard(route)();
        return r;
      };
      on(w, 'popstate', route);

      on(d, 'focusin', e => {
        const el = e.target;
        if (isField(el) && el !== fieldEl) { closeField(); fieldEl = el; fieldAt = mono(); }
      });
      on(d, 'focusout', e => e.target === fieldEl && closeField());

      // A refused submit fires `invalid` in the task of its click or Enter, and no `submit`.
      const aim = e => {
        const el = e.target.closest && e.target.closest('button,input');
        if (el && el.form && (e.key ? e.key === 'Enter' && el.tagName === 'INPUT' : /^(submit|image)$/.test(el.type))) {
          tried(el.form);
        }
      };
      on(d, 'click', aim);
      on(d, 'keydown', aim);
      on(d, 'invalid', e => {
        const el = e.target, v = el.validity;
        let k;
        for (k in v) if (v[k]) break; // the check's name: validationMessage may quote the input
        err(el, 'invalid', k !== 'valid' && k);
        if (attempt(el.form)) submitErr(el.form);
      });
      on(d, 'submit', e => submitErr(e.target)); // novalidate forms submit anyway

      new MutationObserver(guard(observe)).observe(d.documentElement, {
        subtree: true, childList: true, attributes: true, attributeOldValue: true,
        attributeFilter: ['aria-invalid', 'data-beckon-error', 'data-beckon-service-point']
      });
      scan(d.documentElement, new Set()); // server-rendered errors count too
    }
  } catch (e) { debug(e); }
  backlog.forEach(a => a && a[0] !== 'consent' && call(a));
})(window, document);
