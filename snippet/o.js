/* Beckon offer module: loaded by b.js only when the visitor is worth a live connection or an
 * offer arrives, so the first load stays small. Opens the push WebSocket, mounts offers from
 * widget_templates/ inside a Shadow DOM, and sends the customer's answer. An offer never takes
 * focus; it is announced politely, Escape anywhere dismisses it (unless the page handled that
 * Escape), and focus that went into it goes back where it came from. Never throws into the
 * host page; adds no globals (it hangs off window.Beckon). */
(function () {
  'use strict';
  var B = window.Beckon;
  if (!B || B._offers) return;
  B._offers = true;

  var api = '';
  try { api = new URL(B.endpoint, location.href).origin; } catch (e) { return; }
  var current = null;      // {id, host, root}
  var lastFocus = document.activeElement;  // the host page's element focused last: focus returns there
  var ANNOUNCE_MS = 150;   // a live region speaks of changes: it must exist empty first
  var gone = {};           // offer ids answered or withdrawn: never shown again
  var ws = null;
  var wsDelay = 1000;
  // Chat frames go to the chat pop-up (c.js), loaded on the first one, after an accept, or when
  // this tab remembers a chat; frames that arrive while it loads wait in chatQueue.
  var CHAT = { chat: 1, history: 1, msg: 1, typing: 1, ended: 1, ack: 1, error: 1 };
  var chatLoad = null;
  var chatQueue = [];

  function guard(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { /* never into the host page */ }
    };
  }

  // The token never goes in a URL: in the body of a POST, or the socket's first frame.
  function ids() {
    return 'site=' + encodeURIComponent(B.site) + '&vid=' + encodeURIComponent(B.vid);
  }

  function post(path, extra) {
    var body = { site: B.site, vid: B.vid, tok: B.tok };
    for (var k in extra) body[k] = extra[k];
    return fetch(api + path, {
      method: 'POST', body: JSON.stringify(body), credentials: 'omit', keepalive: true,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' }
    });
  }

  function remove() {
    if (!current) return;
    var host = current.host;
    var inside = document.activeElement === host;
    if (host.parentNode) host.parentNode.removeChild(host);
    current = null;
    if (inside && lastFocus && lastFocus.isConnected) lastFocus.focus({ preventScroll: true });
  }

  function mount(id, ui) {
    var host = document.createElement('div');
    host.setAttribute('data-beckon', 'offer');
    var root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(ui.css);          // constructable sheet: no inline style, CSP-safe
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement('style');
      style.textContent = ui.css;
      root.appendChild(style);
    }
    var box = document.createElement('div');
    box.innerHTML = ui.html;              // server-rendered by jinja2 with autoescape
    root.appendChild(box);
    root.addEventListener('click', guard(onClick));
    root.addEventListener('submit', guard(onSubmit));
    document.body.appendChild(host);
    current = { id: id, host: host, root: root };
    // A "leave a message" offer holds the contact form (f.js). Once the customer types, a
    // withdrawal no longer takes the form away; once sent, the thanks stays a moment.
    if (root.querySelector('form[data-beckon-action="contact"]')) {
      root.addEventListener('input', function () { if (current && current.id === id) current.keep = true; });
      forms().then(guard(function () {
        if (B._contactForm && current && current.id === id) {
          B._contactForm(root, id, function () {
            gone[id] = true;
            setTimeout(guard(function () { if (current && current.id === id) remove(); }), 6000);
          });
        }
      }));
    }
    var say = root.querySelector('[data-beckon-announce]');
    if (say) {
      setTimeout(guard(function () { say.textContent = say.getAttribute('data-beckon-announce'); }), ANNOUNCE_MS);
    }
    emit('offer', id);
  }

  function emit(name, arg) {
    if (typeof B._emit === 'function') guard(B._emit)(name, arg);
  }

  function show(cmd) {
    if (gone[cmd.id] || (current && current.id === cmd.id)) return;
    remove();
    var pending = { id: cmd.id };
    current = null;
    post('/v1/offers/' + encodeURIComponent(cmd.id) + '/ui', {})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(guard(function (ui) {
        if (ui && !gone[pending.id] && !current && document.body) mount(pending.id, ui);
      }))
      .catch(function () {});
  }

  function status(text, cls) {
    if (!current) return;
    var card = current.root.querySelector('.bk-card, .bk-root');
    if (!card) return;
    var p = document.createElement('p');
    p.className = cls || 'bk-done';
    p.setAttribute('role', 'status');
    p.textContent = text;
    var form = card.querySelector('form, .bk-actions');
    if (form) form.parentNode.replaceChild(p, form); else card.appendChild(p);
  }

  function answer(action) {
    if (!current) return;
    var id = current.id;
    gone[id] = true;
    if (action === 'dismiss') remove();
    post('/v1/offers/' + encodeURIComponent(id) + '/' + action, {})
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return [r, j]; }); })
      .then(guard(function (rj) {
        if (action !== 'accept') return;
        if (rj[0].ok && rj[1].request) {
          B.request = rj[1].request;
          status('Connecting you to a representative…');
          emit('request', rj[1].request);
          chat({ type: 'request', chat: rj[1].request });
          // the chat pop-up opens over the offer; the offer goes a moment later
          loadChat().then(function () {
            if (B._chat) setTimeout(guard(function () { if (current && current.id === id) remove(); }), 1000);
          });
        } else {
          status('Sorry, this offer has expired.', 'bk-error');
        }
      }))
      .catch(function () { if (action === 'accept') status('Could not reach us; please try again.', 'bk-error'); });
  }

  function onClick(e) {
    var el = e.target && e.target.closest && e.target.closest('[data-beckon-action]');
    if (!el || el.tagName === 'FORM') return;
    var action = el.getAttribute('data-beckon-action');
    if (action === 'contact') {   // "Contact sales": this offer is declined, the form opens instead
      answer('dismiss');
      if (B.contact) B.contact();
      return;
    }
    answer(action);
  }

  function forms() {
    return import(api + '/f.js').catch(function () {});
  }

  function onSubmit(e) {
    e.preventDefault();
    var form = e.target;
    if (!current || form.getAttribute('data-beckon-action') !== 'message') return;
    var id = current.id;
    var fields = {};
    ['name', 'email', 'message'].forEach(function (n) {
      var input = form.elements[n];
      fields[n] = input ? String(input.value).slice(0, 4000) : '';
      var err = form.querySelector('[data-beckon-error-for="' + n + '"]');
      if (err) err.textContent = '';
    });
    post('/v1/offers/' + encodeURIComponent(id) + '/message', fields)
      .then(function (r) { return r.json().then(function (j) { return [r, j]; }); })
      .then(guard(function (rj) {
        if (rj[0].ok) {
          gone[id] = true;
          status('Thank you. We will answer by e-mail.');
          setTimeout(guard(remove), 4000);
          return;
        }
        (rj[1].errors || []).forEach(function (x) {
          var err = form.querySelector('[data-beckon-error-for="' + x.field + '"]');
          if (err) err.textContent = x.message;
        });
        if (!rj[1].errors) status(rj[1].error || 'Sorry, that did not work.', 'bk-error');
      }))
      .catch(function () { status('Could not reach us; please try again.', 'bk-error'); });
  }

  function loadChat() {
    chatLoad = chatLoad || import(api + '/c.js').then(guard(function () {
      var q = chatQueue;
      chatQueue = [];
      if (B._chat) q.forEach(function (f) { B._chat(f); });
    }), function () { chatLoad = null; });   // tried again with the next frame
    return chatLoad;
  }

  // o.js adds two frames of its own: {type: 'request', chat} after an accept, and
  // {type: 'open'} when the socket (re)opens (only once c.js runs: it checks the socket itself).
  function chat(frame) {
    if (B._chat) return B._chat(frame);
    chatQueue.push(frame);
    chatQueue.splice(0, chatQueue.length - 500);
    loadChat();
  }

  function command(cmd) {
    if (!cmd || typeof cmd !== 'object') return;
    if (cmd.type === 'offer') show(cmd);
    else if (cmd.type === 'withdraw') {
      gone[cmd.id] = true;
      if (current && current.id === cmd.id && !current.keep) remove();
    } else if (CHAT[cmd.type]) chat(cmd);
    emit('cmd', cmd);
  }

  function connect() {
    if (ws || !window.WebSocket || !B.tok) return;
    try {
      ws = new WebSocket(api.replace(/^http/, 'ws') + '/v1/push?' + ids());
    } catch (e) { ws = null; return; }
    ws.onopen = function () {
      wsDelay = 1000;
      ws.send(JSON.stringify({ type: 'hello', tok: B.tok }));
      if (B._chat) B._chat({ type: 'open' });
    };
    ws.onmessage = guard(function (e) { command(JSON.parse(e.data)); });
    ws.onclose = function () {
      ws = null;
      setTimeout(guard(connect), wsDelay);   // the heartbeat answer covers the gap
      wsDelay = Math.min(wsDelay * 2, 60000);
    };
    ws.onerror = function () {};
  }

  // Escape from anywhere, last of all (on window, bubbling): not when the page's own handler
  // took it, e.g. to close its dialog.
  function onKey(e) {
    if (e.key !== 'Escape' || e.defaultPrevented || e.isComposing || !current) return;
    if (gone[current.id]) remove(); else answer('dismiss');
  }

  function onFocus(e) {
    if (!current || e.target !== current.host) lastFocus = e.target;
  }

  window.addEventListener('keydown', guard(onKey));
  document.addEventListener('focusin', guard(onFocus), true);
  B._command = guard(command);
  B._watch = guard(connect);
  B._socket = function () { return ws; };
  try { if (sessionStorage.getItem('beckon.chat')) loadChat(); } catch (e) { /* no storage */ }
  connect();
})();
