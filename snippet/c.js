/* Beckon chat pop-up. o.js loads it when the customer accepts HELP, when this tab remembers a
 * chat (sessionStorage), or when a chat frame arrives on the push socket; o.js hands it every
 * chat frame through Beckon._chat(frame), plus {type: 'request', chat} after an accept and
 * {type: 'open'} when the socket (re)opens. Frames: backend/web/page_socket.py.
 *
 * Own Shadow DOM, constructable stylesheet (widget_templates/chat.css, fetched from
 * /v1/chat.css), every node built with createElement and filled with textContent: nothing
 * anyone typed reaches innerHTML, and there is nothing inline for a strict CSP to refuse.
 * Never throws into the host page; adds no globals. */
(() => {
  'use strict';
  const B = window.Beckon;
  if (!B || B._chat) return;
  const d = document;
  const KEY = 'beckon.chat';

  const guard = fn => function (...a) { try { return fn.apply(this, a); } catch (e) { /* never into the page */ } };

  function h(tag, props, kids) {
    const el = d.createElement(tag);
    for (const k in props) {
      const v = props[k];
      if (k === 'text') el.textContent = v;
      else if (v === true) el.setAttribute(k, '');
      else if (v != null && v !== false) el.setAttribute(k, v);
    }
    (kids || []).forEach(c => c && el.appendChild(c));
    return el;
  }

  // --- state --------------------------------------------------------------------------
  let chat = null;        // {id, status: waiting|active|ended, rep, rated}
  let last = '0';         // newest message id seen (kept in sessionStorage)
  let byId = {};          // message id -> <li>: each message is shown once
  let shown = 0;          // messages rendered on this page
  let pending = [];       // [{cid, text, el}] sent but not acknowledged, oldest first
  let min = false, calling = false, refetched = false, ui = null;
  let stars = 0;          // the rating chosen, before it is sent
  let typedAt = 0, typingTimer = 0;
  let css = null, cssLoad = null; // the stylesheet's text, and its fetch while under way
  let waiting = 0;        // shown before the stylesheet came: 1, or 2 with focus wanted
  const wait = {};        // cid -> 'call' | 'mail': forms waiting for their ack

  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { return null; }
  }
  function save() {
    try {
      if (!chat) sessionStorage.removeItem(KEY);
      else sessionStorage.setItem(KEY, JSON.stringify({ id: chat.id, last, min, rated: !!chat.rated, pending: pending.map(p => ({ cid: p.cid, text: p.text })) }));
    } catch (e) { /* no storage (private mode, quota): the chat still works on this page */ }
  }

  // Stream ids "ms-seq" order the messages.
  const parts = id => String(id).split('-').map(Number);
  function after(a, b) {
    const x = parts(a), y = parts(b);
    return x[0] > y[0] || (x[0] === y[0] && (x[1] || 0) > (y[1] || 0));
  }
  const newCid = () => Date.now().toString(36) + '-' + Array.from(crypto.getRandomValues(new Uint32Array(2)), n => n.toString(36)).join('');

  function send(frame) {
    const ws = B._socket && B._socket();
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  // On every (re)connect: the state and what we missed, then whatever is still unacknowledged
  // (the server keeps one copy per cid).
  function resume() {
    if (!chat) return;
    send({ type: 'resume', chat: chat.id, after: last });
    pending.forEach(p => send({ type: 'say', text: p.text, cid: p.cid }));
  }

  // --- the pop-up ---------------------------------------------------------------------
  // The stylesheet, fetched once (retried on the next show after a failure). The pop-up
  // enters the page only with it: unstyled, it would flash and push the page's layout.
  function style() {
    cssLoad = cssLoad || fetch(new URL('/v1/chat.css', B.endpoint).href, { credentials: 'omit' })
      .then(r => { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(guard(text => {
        css = text;
        if (ui) dress(ui);
        if (waiting) show(waiting > 1);
      }), () => { cssLoad = null; });
  }

  function dress(r) {
    if (r.sheet) r.sheet.replaceSync(css);  // constructable: no inline <style> for a CSP to refuse
    else r.shadow.appendChild(h('style', { text: css }));
  }

  function build() {
    const host = h('div', { 'data-beckon': 'chat' });
    const shadow = host.attachShadow({ mode: 'open' });
    const r = { host, shadow };
    if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      r.sheet = new CSSStyleSheet();
      shadow.adoptedStyleSheets = [r.sheet];
    }
    r.status = h('p', { class: 'bk-status', role: 'status' });
    r.min = h('button', { type: 'button', 'aria-label': 'Minimize chat', 'aria-expanded': 'true', text: '\u2013' });
    r.close = h('button', { type: 'button', 'aria-label': 'Close chat', text: '\u00d7', hidden: true });
    r.chatMode = h('button', { type: 'button', 'aria-pressed': 'true', text: 'Chat' });
    r.callMode = h('button', { type: 'button', 'aria-pressed': 'false', text: 'Call me back' });
    r.modes = h('div', { class: 'bk-modes', role: 'group', 'aria-label': 'How would you like help?' }, [r.chatMode, r.callMode]);
    r.log = h('ol', { class: 'bk-log', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
    r.typing = h('p', { class: 'bk-typing', 'aria-live': 'polite' });
    r.text = h('input', { id: 'bk-m', name: 'text', maxlength: '2000', autocomplete: 'off', placeholder: 'Type your message…' });
    r.say = h('form', { class: 'bk-form' }, [
      h('label', { for: 'bk-m', class: 'bk-sr', text: 'Your message' }), r.text,
      h('button', { type: 'submit', class: 'bk-primary', text: 'Send' })]);
    r.phone = h('input', { id: 'bk-p', name: 'phone', type: 'tel', maxlength: '32', autocomplete: 'tel', required: true });
    r.when = h('input', { id: 'bk-w', name: 'when', maxlength: '100', placeholder: 'e.g. today after 5 pm' });
    r.callErr = h('p', { class: 'bk-err', role: 'alert' });
    r.call = h('form', { class: 'bk-form bk-call', hidden: true }, [
      h('label', { for: 'bk-p', text: 'Phone number' }), r.phone,
      h('label', { for: 'bk-w', text: 'Preferred time' }), r.when, r.callErr,
      h('button', { type: 'submit', class: 'bk-primary', text: 'Call me back' })]);
    r.email = h('input', { id: 'bk-e', name: 'email', type: 'email', maxlength: '254', autocomplete: 'email', required: true });
    r.mailNote = h('p', { class: 'bk-note', role: 'status' });
    r.mailErr = h('p', { class: 'bk-err', role: 'alert' });
    r.mail = h('form', { class: 'bk-form', hidden: true }, [
      h('label', { for: 'bk-e', text: 'E-mail me the transcript' }), r.email,
      h('button', { type: 'submit', text: 'Send' }), r.mailErr, r.mailNote]);
    // After the end: "How did we do?", 1-5 stars (buttons) and an optional comment, sent once.
    r.stars = [1, 2, 3, 4, 5].map(n => h('button', { type: 'button', class: 'bk-star', 'aria-pressed': 'false', 'aria-label': n + (n > 1 ? ' stars' : ' star'), text: '\u2605' }));
    r.note = h('input', { id: 'bk-n', name: 'comment', maxlength: '500', autocomplete: 'off', placeholder: 'Anything to add? (optional)' });
    r.rateErr = h('p', { class: 'bk-err', role: 'alert' });
    r.rate = h('form', { class: 'bk-form bk-rate', hidden: true }, [
      h('p', { class: 'bk-ask', id: 'bk-q', text: 'How did we do?' }),
      h('div', { class: 'bk-stars', role: 'group', 'aria-labelledby': 'bk-q' }, r.stars),
      h('label', { for: 'bk-n', class: 'bk-sr', text: 'Your comment' }), r.note,
      h('button', { type: 'submit', class: 'bk-primary', text: 'Send rating' }), r.rateErr]);
    r.thanks = h('p', { class: 'bk-thanks', role: 'status' });
    r.err = h('p', { class: 'bk-err', role: 'alert' });
    r.end = h('button', { type: 'button', class: 'bk-end', text: 'End chat' });
    r.body = h('div', { class: 'bk-body' }, [r.modes, r.log, r.typing, r.say, r.call, r.rate, r.thanks, r.mail, r.err, r.end]);
    r.root = h('section', { class: 'bk-root', 'aria-label': 'Chat' }, [
      h('div', { class: 'bk-head' }, [r.status, r.min, r.close]), r.body]);
    shadow.appendChild(r.root);
    if (css != null) dress(r);

    r.say.addEventListener('submit', guard(onSay));
    r.call.addEventListener('submit', guard(onCall));
    r.mail.addEventListener('submit', guard(onMail));
    r.rate.addEventListener('submit', guard(onRate));
    r.stars.forEach((b, i) => b.addEventListener('click', guard(() => pick(i + 1))));
    r.text.addEventListener('input', guard(onType));
    r.chatMode.addEventListener('click', guard(() => mode(false, r.text)));
    r.callMode.addEventListener('click', guard(() => mode(true, r.phone)));
    r.min.addEventListener('click', guard(() => minimize(!min)));
    r.close.addEventListener('click', guard(close));
    r.end.addEventListener('click', guard(() => { if (!send({ type: 'end' })) r.err.textContent = 'Could not reach us; please try again.'; }));
    r.root.addEventListener('keydown', guard(e => {
      if (e.key === 'Escape' && !min) { minimize(true); r.min.focus(); }
    }));
    return r;
  }

  // Shown once there is something to show; `focus` when the customer just asked for help.
  function show(focus) {
    if (!chat) return;
    if (!ui) ui = build();
    if (!ui.host.isConnected) {
      if (!d.body || css == null) {
        waiting = Math.max(waiting, focus ? 2 : 1);
        return style();
      }
      d.body.appendChild(ui.host);
      focus = focus || waiting > 1;
      waiting = 0;
    }
    pending.forEach(p => {  // remembered from the last page: still on their way
      if (!p.el) ui.log.appendChild(p.el = item({ from: 'visitor', text: p.text }, 'sending'));
    });
    paint();
    if (focus) ui.text.focus({ preventScroll: true });
  }

  function paint() {
    if (!ui || !chat) return;
    const ended = chat.status === 'ended';
    const refocus = ended && !ui.ended && d.activeElement === ui.host;  // e.g. on "End chat", now hidden
    ui.ended = ended;
    ui.status.textContent = chat.status === 'active' ? 'Chatting with ' + (chat.rep || 'a representative')
      : ended ? 'Chat ended' : 'Waiting for a representative…';
    ui.root.classList.toggle('bk-min', min);
    ui.body.hidden = min;
    if (!min) ui.root.classList.remove('bk-new');
    ui.min.setAttribute('aria-expanded', String(!min));
    ui.min.setAttribute('aria-label', min ? 'Open chat' : 'Minimize chat');
    ui.min.textContent = min ? '\u25b4' : '\u2013';
    ui.close.hidden = ui.mail.hidden = !ended;
    ui.modes.hidden = ui.end.hidden = ended;
    ui.say.hidden = ended || calling;
    ui.call.hidden = ended || !calling;
    ui.chatMode.setAttribute('aria-pressed', String(!calling));
    ui.callMode.setAttribute('aria-pressed', String(calling));
    if (ended) ui.typing.textContent = '';
    ui.rate.hidden = !ended || !chat.rep || !!chat.rated;  // nobody answered: nothing to rate
    if (refocus) (ui.rate.hidden ? ui.email : ui.stars[0]).focus({ preventScroll: true });
  }

  // Text chat or "call me back".
  function mode(call, focus) {
    calling = call;
    paint();
    if (focus) focus.focus();
  }

  function minimize(on) {
    min = on;
    save();
    paint();
    if (!on) scroll();
  }

  function close() {
    if (ui && ui.host.parentNode) ui.host.parentNode.removeChild(ui.host);
    reset(null);
  }

  // A different chat (or none): forget the old one's messages.
  function reset(next) {
    chat = next;
    last = '0';
    byId = {};
    shown = 0;
    pending = [];
    min = calling = refetched = false;
    stars = 0;
    if (ui) {
      ui.log.textContent = '';
      [ui.err, ui.callErr, ui.mailErr, ui.mailNote, ui.typing, ui.rateErr, ui.thanks].forEach(p => { p.textContent = ''; });
      ui.mail.reset();
      ui.rate.reset();
      pick(0);
      ui.call.reset();
      paint();
    }
    save();
  }

  const scroll = () => { if (ui) ui.log.scrollTop = ui.log.scrollHeight; };

  function link(url, title) {
    let u;
    try { u = new URL(url, location.href); } catch (e) { return null; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return h('a', { class: 'bk-link', href: u.href, target: '_self' }, [
      h('strong', { text: title || u.hostname }), h('span', { text: u.href })]);
  }

  // A document the representative sent: a download card. Its url is a signed link on Beckon's
  // own origin (a relative one is read against it, never against the host page).
  const TYPES = { 'application/pdf': 'PDF', 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/gif': 'GIF', 'image/webp': 'WebP' };
  function bytes(n) {
    n = Number(n);
    if (!(n >= 0) || !isFinite(n)) return '';
    return n < 1024 ? n + ' B' : n < 1048576 ? Math.round(n / 1024) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
  }
  function doc(m) {
    let u;
    if (typeof m.url !== 'string' || !m.url) return null;
    try { u = new URL(m.url, B.endpoint); } catch (e) { return null; }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    const name = m.filename ? String(m.filename) : 'document';
    const type = Object.prototype.hasOwnProperty.call(TYPES, m.content_type) ? TYPES[m.content_type] : '';
    const meta = [type, bytes(m.size)].filter(Boolean).join(' \u00b7 ');
    return h('a', { class: 'bk-doc', href: u.href, download: name, rel: 'noopener' }, [
      h('strong', { text: m.title ? String(m.title) : name }),
      h('span', { class: 'bk-doc-name', text: name }),
      h('span', { class: 'bk-doc-meta', text: meta })]);
  }

  function item(m, state) {
    const from = m.from === 'rep' || m.from === 'system' ? m.from : 'visitor';
    const li = h('li', { class: 'bk-msg bk-' + from, 'data-id': m.id, 'data-kind': m.kind || 'text' });
    if (from === 'rep') li.appendChild(h('span', { class: 'bk-name', text: m.name || chat.rep || 'Representative' }));
    const card = m.kind === 'link' ? link(m.url, m.title) : m.kind === 'document' ? doc(m) : null;
    // the console sends a link's or document's title (or URL) as its text: the card shows that already
    if (m.text && !(card && (m.text === m.title || m.text === m.url))) li.appendChild(h('span', { class: 'bk-text', text: m.text }));
    if (card) li.appendChild(card);
    if (m.ts) li.title = new Date(m.ts).toLocaleString();
    if (from === 'visitor') {
      li.appendChild(h('span', { class: 'bk-state' }));
      mark(li, state || 'sent');
    }
    return li;
  }

  function mark(li, state, why) {
    li.setAttribute('data-state', state);
    const s = li.querySelector('.bk-state');
    if (s) s.textContent = state === 'sent' ? 'Sent' : state === 'failed' ? 'Not sent: ' + why : 'Sending…';
  }

  // Each message once, in id order, whatever mix of history, live frames and acks brings it.
  function add(m) {
    if (!m || typeof m.id !== 'string') return;
    if (m.cid && m.from === 'visitor') settle(m.cid);
    if (byId[m.id]) return;
    show();
    if (!ui) return;
    const li = item(m);
    byId[m.id] = li;
    shown++;
    let ref = null;   // pending messages stay last; others go after the newest older one
    for (let el = ui.log.lastElementChild; el; el = el.previousElementSibling) {
      const id = el.getAttribute('data-id');
      if (id && !after(id, m.id)) break;
      ref = el;
    }
    ui.log.insertBefore(li, ref);
    if (after(m.id, last)) last = m.id;
    if (m.from === 'rep') {
      ui.typing.textContent = '';
      if (min) ui.root.classList.add('bk-new');
    }
    save();
    scroll();
  }

  function settle(cid) {
    const i = pending.findIndex(p => p.cid === cid);
    if (i < 0) return null;
    const p = pending.splice(i, 1)[0];
    if (p.el && p.el.parentNode) p.el.parentNode.removeChild(p.el);
    save();
    return p;
  }

  // The server could not be sure it kept a message (its storage failing over): it stays
  // pending and goes again, same cid, after the pause asked for (if a reconnect sent it
  // sooner, the server still keeps one copy). False when it is not one of ours.
  function again(cid, ms) {
    const p = pending.find(q => q.cid === cid);
    if (!p) return false;
    setTimeout(guard(() => {
      if (pending.indexOf(p) >= 0) send({ type: 'say', text: p.text, cid });
    }), Math.min(ms, 30000));
    return true;
  }

  function queue(cid, text) {
    const p = { cid, text, el: item({ from: 'visitor', text }, 'sending') };
    pending.push(p);
    ui.log.appendChild(p.el);
    save();
    scroll();
    send({ type: 'say', text, cid });
  }

  // --- what the customer does ------------------------------------------------------------
  function onSay(e) {
    e.preventDefault();
    const text = ui.text.value.trim().slice(0, 2000);
    if (!text || !chat || chat.status === 'ended') return;
    ui.text.value = '';
    ui.err.textContent = '';
    typedAt = 0;
    queue(newCid(), text);
  }

  function onType() {
    const now = Date.now();
    if (chat && chat.status === 'active' && ui.text.value && now - typedAt >= 2000) {
      typedAt = now;
      send({ type: 'typing' });
    }
  }

  function ask(form, frame, err) {
    err.textContent = '';
    const cid = newCid();
    wait[cid] = form;
    frame.cid = cid;
    if (!send(frame)) err.textContent = 'Could not reach us; please try again.';
  }

  function onCall(e) {
    e.preventDefault();
    ask('call', { type: 'callback', phone: ui.phone.value.trim(), when: ui.when.value.trim() }, ui.callErr);
  }

  function onMail(e) {
    e.preventDefault();
    ui.mailNote.textContent = '';
    ask('mail', { type: 'transcript', email: ui.email.value.trim(), chat: chat && chat.id }, ui.mailErr);
  }

  function pick(n) {
    stars = n;
    ui.stars.forEach((b, i) => {
      b.setAttribute('aria-pressed', String(i + 1 === n));
      b.classList.toggle('bk-on', i < n);
    });
  }

  function onRate(e) {
    e.preventDefault();
    if (!stars) { ui.rateErr.textContent = 'Please choose from 1 to 5 stars.'; return; }
    ask('rate', { type: 'rate', chat: chat && chat.id, stars, comment: ui.note.value.trim().slice(0, 500) }, ui.rateErr);
  }

  function rated() {
    chat.rated = true;
    save();
    ui.thanks.textContent = 'Thank you for your rating.';
    paint();
  }

  // --- what the server says ---------------------------------------------------------------
  function ours(f) {
    if (typeof f.chat !== 'string' || (chat && f.chat === chat.id)) return true;
    if (chat) return false;
    reset({ id: f.chat, status: 'waiting', rep: '' });  // a chat we did not know of (another tab)
    send({ type: 'resume', chat: f.chat, after: '0' });
    return true;
  }

  function frame(f) {
    if (!f || typeof f !== 'object') return;
    const t = f.type;
    if (t === 'open') return resume();
    if (t === 'request') {
      if (chat && chat.id === f.chat) return;
      reset({ id: f.chat, status: 'waiting', rep: '' });
      show(true);
      return resume();
    }
    if (t === 'chat') {
      if (typeof f.id !== 'string') return;
      if (!chat || f.id !== chat.id) {
        if (chat && chat.status !== 'ended' && f.status === 'ended') return;
        reset({ id: f.id, status: f.status, rep: '' });
      }
      chat.status = f.status;
      chat.rep = f.rep || chat.rep;
      if (f.status !== 'ended' || shown) return show();
      // A remembered chat that ended while we were away is not re-sent on connect: ask for
      // all of it; it shows with its first message.
      if (last !== '0' && !refetched) {
        refetched = true;
        last = '0';
        send({ type: 'resume', chat: chat.id, after: '0' });
      }
      return paint();
    }
    if (t === 'history') return ours(f) && Array.isArray(f.msgs) && f.msgs.forEach(add);
    if (t === 'msg') return ours(f) && add(f.msg);
    if (t === 'typing') {
      if (f.from !== 'rep' || !ours(f) || !ui || !chat || chat.status !== 'active') return;
      ui.typing.textContent = (chat.rep || 'The representative') + ' is typing…';
      clearTimeout(typingTimer);
      typingTimer = setTimeout(guard(() => { ui.typing.textContent = ''; }), 3000);
      return;
    }
    if (t === 'ended') {
      if (!ours(f) || !chat) return;
      chat.status = 'ended';
      return show();
    }
    if (t === 'ack' || t === 'error') {
      const form = wait[f.cid];
      delete wait[f.cid];
      if (!ui) return;
      if (form === 'call') {
        if (t === 'error') ui.callErr.textContent = f.message;
        else { ui.call.reset(); mode(false, ui.text); }
      } else if (form === 'rate') {
        if (t === 'ack') rated();
        else ui.rateErr.textContent = f.message;
      } else if (form === 'mail') {
        if (t === 'error') ui.mailErr.textContent = f.message;
        else { ui.mailNote.textContent = 'We have sent the transcript to ' + ui.email.value.trim() + '.'; ui.mail.reset(); }
      } else if (t === 'ack') {
        const p = settle(f.cid);
        if (p) add({ id: f.id, from: 'visitor', text: p.text, kind: 'text', ts: Date.now() });
      } else if (!(f.retry > 0 && again(f.cid, f.retry))) {
        const p = settle(f.cid);
        if (p) { mark(p.el, 'failed', f.message); ui.log.appendChild(p.el); }
        else ui.err.textContent = f.message;
      }
    }
  }

  // --- start: a chat this tab remembers, or the one just requested ------------------------
  B._chat = guard(frame);
  try {
    const s = load();
    if (s && typeof s.id === 'string') {
      chat = { id: s.id, status: 'waiting', rep: '' };
      last = typeof s.last === 'string' ? s.last : '0';
      min = !!s.min;
      chat.rated = !!s.rated;
      (Array.isArray(s.pending) ? s.pending : []).forEach(p => {
        if (p && typeof p.cid === 'string' && typeof p.text === 'string') pending.push({ cid: p.cid, text: p.text });
      });
    }
    if (chat) resume();  // if the socket is not open yet, o.js says 'open' when it is
    style();
  } catch (e) { /* never into the page */ }
})();
