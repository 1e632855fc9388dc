/* Beckon forms module: the customer's contact form. Loaded by b.js when it is asked for
 * (Beckon.contact(), "Contact sales" in an offer, a "leave a message" offer) or when the page
 * holds a form marked data-beckon-form="contact", so pages without either never load it.
 * What the customer or the server sends is shown only as input values and textContent; the
 * form itself is server-rendered (jinja2, autoescaped) and carries no customer data.
 * Never throws into the host page; adds no globals (it hangs off window.Beckon). */
(function () {
  'use strict';
  var B = window.Beckon;
  if (!B || B._forms) return;
  B._forms = true;

  var api = '';
  try { api = new URL(B.endpoint, location.href).origin; } catch (e) { return; }
  // core/leads.py:FORM_FIELDS, with the server's limits (a longer value is cut, not refused)
  var FIELDS = { name: 200, email: 254, phone: 32, postcode: 16, comment: 2000, model: 64, company: 200, consent: 1 };
  var NEVER_TYPE = /^(password|hidden|file|submit|button|reset|image)$/;
  var NEVER_NAME = /pass|card|cc-|cvc|cvv|csc|iban/i;   // tested on name, id and autocomplete
  var YES = /^(1|y|yes|true|on)$/i;
  var WIDGET = ['name', 'email', 'phone', 'postcode', 'comment'];
  var panel = null;        // the contact form on demand: {host, root}
  var lastFocus = null;

  function guard(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { /* never into the host page */ }
    };
  }

  function post(path, extra) {
    var body = { site: B.site, vid: B.vid, tok: B.tok };
    for (var k in extra) body[k] = extra[k];
    return fetch(api + path, {
      method: 'POST', body: JSON.stringify(body), credentials: 'omit', keepalive: true,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' }
    });
  }

  // The visit's token comes with the first answer to the page's events: wait for it if needed.
  function ready() {
    return B.tok ? Promise.resolve() : Promise.resolve(B.flush && B.flush());
  }

  // --- a site's own form, data-beckon-form="contact" ---------------------------------------

  // Only allow-listed fields, by name or data-beckon-field; never a password, hidden, file or
  // card field whatever it is mapped to, nor a disabled one.
  function collect(form) {
    var out = {};
    [].forEach.call(form.elements || [], function (el) {
      var f = el.getAttribute('data-beckon-field') || el.getAttribute('name') || '';
      var t = String(el.type || '').toLowerCase();
      var tick = t === 'checkbox' || t === 'radio';
      if (!FIELDS.hasOwnProperty(f) || el.disabled || NEVER_TYPE.test(t) ||
          NEVER_NAME.test([el.getAttribute('name'), el.id, el.getAttribute('autocomplete')].join(' '))) return;
      if (f === 'consent') {
        if (t === 'checkbox') out.consent = el.checked;
        else if (!tick || el.checked) out.consent = YES.test(String(el.value).trim());
        return;
      }
      if (tick && !el.checked) return;
      var v = String(el.value == null ? '' : el.value).trim();
      if (v) out[f] = (out[f] ? out[f] + ' ' + v : v).slice(0, FIELDS[f]);
    });
    return out;
  }

  // While the page lives (a form posted to a frame or a new tab), a send the collector failed
  // is tried again after 2, 4, 8 s; a page that navigates away keeps the first try going
  // (keepalive). A 429 is not tried again: the visitor's limit holds for up to an hour.
  function send(fields, n) {
    ready().then(function () { return post('/v1/contact/form', { fields: fields }); })
      .then(function (r) { if (r.status > 499) throw r; })
      .catch(function () {
        if (n < 3) setTimeout(guard(function () { send(fields, n + 1); }), 2000 << n);
      });
  }

  // Last of all (window, bubbling): sent only when the site's own handlers let the submit go
  // ahead. A form the browser's checks refuse fires no submit at all.
  window.addEventListener('submit', guard(function (e) {
    var form = e.target;
    if (e.defaultPrevented || !form || !form.matches || !form.matches('form[data-beckon-form="contact"]')) return;
    send(collect(form), 0);
  }));

  // --- Beckon's own form, in a Shadow DOM -----------------------------------------------

  function show(form, errors) {
    var first = null;
    [].forEach.call(form.querySelectorAll('[data-beckon-error-for]'), function (p) { p.textContent = ''; });
    [].forEach.call(form.querySelectorAll('[aria-invalid]'), function (el) { el.removeAttribute('aria-invalid'); });
    errors.forEach(function (x) {
      var field = String(x.field || '');
      var input = field && form.elements[field];
      var p = form.querySelector('[data-beckon-error-for="' + (input ? field : '') + '"]');
      if (p) p.textContent = (p.textContent ? p.textContent + ' ' : '') + String(x.message || '');
      if (input && input.setAttribute) {
        input.setAttribute('aria-invalid', 'true');
        first = first || input;
      }
    });
    if (first) first.focus();
  }

  function about(form, p) {
    var el = form.querySelector('[data-beckon-about]');
    if (!el || !p.about || !p.about.model) return;
    el.textContent = 'About: ' + (p.about.name ? p.about.name + ' (' + p.about.model + ')' : p.about.model);
    el.hidden = false;
  }

  // Fills the form in ``root`` and sends it; ``offer``: the "leave a message" offer it answers.
  // ``sent`` is called with the thanks once the server took it.
  function wire(root, offer, sent) {
    var form = root.querySelector('form[data-beckon-action="contact"]');
    if (!form || form._beckon) return;
    form._beckon = true;
    ready().then(function () { return post('/v1/contact/prefill', {}); })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(guard(function (p) {
        if (!p) return;
        about(form, p);
        for (var k in p.fields) {
          var el = WIDGET.indexOf(k) >= 0 && form.elements[k];
          if (el && !el.value) el.value = String(p.fields[k]);   // never over what the customer typed
        }
      }))
      .catch(function () {});
    form.addEventListener('submit', guard(function (e) {
      e.preventDefault();
      var button = form.querySelector('[type=submit]');
      var fields = { consent: !!(form.elements.consent && form.elements.consent.checked) };
      WIDGET.forEach(function (n) { fields[n] = form.elements[n] ? String(form.elements[n].value) : ''; });
      show(form, []);
      if (button) button.disabled = true;
      post('/v1/contact', offer ? { fields: fields, offer: offer } : { fields: fields })
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return [r, j]; }); })
        .then(guard(function (rj) {
          if (button) button.disabled = false;
          if (!rj[0].ok) {
            show(form, rj[1].errors || [{ field: '', message: rj[1].error || 'Sorry, that did not work.' }]);
            return;
          }
          var p = document.createElement('p');
          p.className = 'bk-done';
          p.setAttribute('role', 'status');
          p.setAttribute('tabindex', '-1');
          p.textContent = String(rj[1].message || 'Thank you.');
          form.parentNode.replaceChild(p, form);
          p.focus();
          if (sent) sent();
        }), guard(function () {
          if (button) button.disabled = false;
          show(form, [{ field: '', message: 'Could not reach us; please try again.' }]);
        }));
    }));
  }

  function close() {
    if (!panel) return;
    var inside = document.activeElement === panel.host;
    if (panel.host.parentNode) panel.host.parentNode.removeChild(panel.host);
    panel = null;
    if (inside && lastFocus && lastFocus.isConnected) lastFocus.focus({ preventScroll: true });
  }

  // Beckon.contact(): asked for, so focus goes into the form (and back when it closes).
  function open() {
    if (panel) return;
    lastFocus = document.activeElement;
    ready().then(function () { return post('/v1/contact/ui', {}); })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(guard(function (ui) {
        if (!ui || panel || !document.body) return;
        var host = document.createElement('div');
        host.setAttribute('data-beckon', 'contact');
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
        box.innerHTML = ui.html;              // server-rendered by jinja2 with autoescape, no customer data
        root.appendChild(box);
        root.addEventListener('click', guard(function (e) {
          if (e.target.closest && e.target.closest('[data-beckon-action="dismiss"]')) close();
        }));
        document.body.appendChild(host);
        panel = { host: host, root: root };
        wire(root, '', function () { setTimeout(guard(close), 6000); });
        var first = root.querySelector('input');
        if (first) first.focus();
      }))
      .catch(function () {});
  }

  window.addEventListener('keydown', guard(function (e) {
    if (e.key === 'Escape' && !e.defaultPrevented && !e.isComposing) close();
  }));
  B._contact = guard(open);
  B._contactForm = guard(wire);
})();
