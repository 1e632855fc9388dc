/* Beckon console: the representative's workspace.
 * One WebSocket (/console/ws) carries the queue, the rep's chats and their events.
 * Everything a visitor or colleague typed goes into the page with textContent only. */
(function () {
  "use strict";

  var root = document.getElementById("workspace");
  if (!root) return;

  var CSRF = root.getAttribute("data-csrf");
  var ME = root.getAttribute("data-rep");
  var PRESENCE_EVERY_MS = 10000;
  var TYPING_EVERY_MS = 2000;
  var LABELS = {
    page_dwell: ["Time on page", " s"], field_dwell: ["Time in one field", " s"],
    form_errors: ["Form errors", ""], return_visits: ["Return visits", ""],
    service_point: ["At a service point", ""], cart_value: ["Cart value", ""],
    flagged_customer: ["Flagged customer", ""]
  };

  var ws = null;
  var backoff = 500;
  var presenceTimer = null;
  var wanted = sessionStorage.getItem("beckon.presence") === "available" ? "available" : "away";
  var skew = 0; // server clock minus ours
  var queue = new Map(); // request id -> {data, el}
  var chats = new Map(); // chat id -> {data, el, ids: Set, ended, typingTimer, sentTypingAt}
  var reps = [];
  var repsKey = "";
  var seen = new Set();
  var firstQueue = true;
  var audio = null;
  var baseTitle = document.title;

  // --- small helpers ------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function clone(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function q(node, sel) { return node.querySelector(sel); }

  function now() { return Date.now() + skew; }

  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var m = Math.floor(s / 60);
    return m ? m + " min " + (s % 60) + " s" : s + " s";
  }

  function clock(ts) {
    var d = new Date(ts);
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : "";
  }

  function who(detail, vid) {
    var p = (detail && detail.profile) || {};
    return p.name || p.email || p.id || ("Visitor " + String(vid || "").slice(0, 8));
  }

  var toastTimer = null;
  function toast(message) {
    var t = document.getElementById("toast");
    t.textContent = message;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 6000);
  }

  function showError(node, message) {
    var e = q(node, ".error");
    if (!e) { toast(message); return; }
    e.textContent = message;
    e.hidden = false;
    clearTimeout(e._timer);
    e._timer = setTimeout(function () { e.hidden = true; }, 8000);
  }

  // --- the connection -----------------------------------------------------------------

  function send(message) {
    if (!ws || ws.readyState !== 1) {
      toast("Not connected; reconnecting…");
      return false;
    }
    ws.send(JSON.stringify(message));
    return true;
  }

  function setConn(text) { document.getElementById("conn").textContent = text; }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/console/ws?csrf=" + encodeURIComponent(CSRF));
    ws.onopen = function () {
      backoff = 500;
      setConn("");
      sendPresence();
      clearInterval(presenceTimer);
      presenceTimer = setInterval(sendPresence, PRESENCE_EVERY_MS);
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message && typeof message.type === "string") handle(message);
    };
    ws.onclose = function (event) {
      clearInterval(presenceTimer);
      ws = null;
      if (event.code === 4401) { location.href = "/console/login?next=%2Fconsole%2F"; return; }
      if (event.code === 4403) { location.reload(); return; }
      setConn("Connection lost; reconnecting…");
      document.getElementById("presence-state").textContent = "Offline (reconnecting)";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function sendPresence() { return send({type: "presence", status: wanted}); }

  function handle(m) {
    if (typeof m.now === "number") skew = m.now - Date.now();
    switch (m.type) {
      case "queue": renderQueue(m.requests || []); break;
      case "chats": renderChats(m.chats || []); break;
      case "visitor": updateVisitor(m.chat, m.detail); break;
      case "reps": setReps(m.reps || []); break;
      case "presence": showPresence(m.status); break;
      case "ack": ack(m); break;
      case "error": routeError(m.ref || "", m.message || "That did not work."); break;
      case "msg": addMessage(m.chat, m.msg); break;
      case "typing": if (m.from === "visitor") showTyping(m.chat); break;
      case "ended": markEnded(m.chat, m.by === "visitor" ? "The customer ended the chat." : "Chat ended."); break;
      case "chat-closed": closedElsewhere(m.id); break;
      default: break;
    }
  }

  function routeError(ref, message) {
    if (ref.indexOf("link:") === 0) ref = ref.slice(5);
    if (queue.has(ref)) {
      var item = queue.get(ref).el;
      var button = q(item, ".accept");
      button.disabled = false;
      button.textContent = "Accept";
      showError(item, message);
      toast(message); // the item may vanish with the next snapshot; the reason must not
      return;
    }
    if (chats.has(ref)) { showError(chats.get(ref).el, message); return; }
    var pending = document.querySelector('.msg.pending[data-cid="' + CSS.escape(ref) + '"]');
    if (pending) {
      pending.classList.add("failed");
      pending.classList.remove("pending");
      showError(pending.closest(".chat"), message);
      return;
    }
    toast(message);
  }

  // --- presence -------------------------------------------------------------------------

  function markPresence() {
    document.querySelectorAll("[data-presence]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-presence") === wanted));
    });
  }

  function showPresence(status) {
    var text = {available: "You are available", away: "You are away", offline: "You are offline"}[status];
    document.getElementById("presence-state").textContent = text || "";
    markPresence();
  }

  document.querySelectorAll("[data-presence]").forEach(function (button) {
    button.addEventListener("click", function () {
      wanted = button.getAttribute("data-presence");
      sessionStorage.setItem("beckon.presence", wanted);
      unlockAudio();
      markPresence();
      // the state line changes when the server confirms, not before
      if (sendPresence()) document.getElementById("presence-state").textContent = "Updating…";
    });
  });

  // --- alerts: a beep, a desktop notification, a count in the tab title ------------------

  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) {
      try { audio = new Ctx(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === "suspended") audio.resume();
  }
  document.addEventListener("pointerdown", unlockAudio, {once: true});
  document.addEventListener("keydown", unlockAudio, {once: true});

  function beep() {
    if (!audio || audio.state !== "running") return;
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  }

  function notify(title, body, tag) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification(title, {body: body, tag: tag});
      n.onclick = function () { window.focus(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  var alertsButton = document.getElementById("enable-alerts");
  function updateAlertsButton() {
    alertsButton.hidden = !("Notification" in window) || Notification.permission !== "default";
  }
  alertsButton.addEventListener("click", function () {
    unlockAudio();
    beep();
    if ("Notification" in window) Notification.requestPermission().then(updateAlertsButton, updateAlertsButton);
  });
  updateAlertsButton();

  function updateTitle() {
    var n = queue.size;
    document.title = (n ? "(" + n + ") " : "") + baseTitle;
    document.getElementById("queue-count").textContent = String(n);
    document.getElementById("queue-empty").hidden = n > 0;
    var c = 0;
    chats.forEach(function (chat) { if (!chat.ended) c += 1; });
    document.getElementById("chats-count").textContent = String(c);
    document.getElementById("chats-empty").hidden = chats.size > 0;
  }

  function summary(r) {
    return (r.reasons || []).map(function (x) { return (LABELS[x.rule] || [x.rule])[0]; }).join(", ");
  }

  // --- visitor details (beside requests and chats) -----------------------------------------

  function reasonText(r) {
    var label = LABELS[r.rule] || [r.rule, ""];
    var value = r.value;
    var text = label[0];
    if (typeof value === "boolean") text += value ? "" : ": no";
    else if (value !== null && value !== undefined && value !== "") text += ": " + value + label[1];
    if (r.threshold) text += " (threshold " + r.threshold + label[1] + ")";
    return text;
  }

  function section(parent, title) {
    parent.appendChild(el("h4", null, title));
  }

  function renderDetails(box, reasons, d) {
    clear(box);
    var facts = el("dl", "facts");
    function fact(term, value) {
      if (value === "" || value === null || value === undefined) return;
      facts.appendChild(el("dt", null, term));
      facts.appendChild(el("dd", null, value));
    }
    var p = (d && d.profile) || {};
    fact("Name", p.name);
    fact("E-mail", p.email);
    fact("Customer id", p.id);
    if (d && d.cart_value) fact("Cart", d.cart_value + (d.currency ? " " + d.currency : ""));
    if (d) fact("Visits to this page", d.visits || "");
    if (d && d.flagged) fact("Flagged", "yes");
    box.appendChild(facts);

    section(box, "Why flagged");
    var list = el("ul", "reasons");
    (reasons || []).forEach(function (r) {
      var li = el("li", r.fired ? "fired" : null, reasonText(r));
      li.setAttribute("data-rule", r.rule);
      if (typeof r.contribution === "number") li.appendChild(el("span", "contrib", " +" + r.contribution));
      list.appendChild(li);
    });
    if (!list.firstChild) list.appendChild(el("li", "muted", "no rule recorded"));
    box.appendChild(list);

    if (!d) {
      box.appendChild(el("p", "muted", "The visit has expired."));
      return;
    }
    if (d.pages && d.pages.length) {
      section(box, "Pages");
      var trail = el("ol", "trail");
      d.pages.forEach(function (page) {
        var li = el("li");
        li.appendChild(el("span", "title", page.title || page.url));
        li.appendChild(el("span", "dwell", " · " + duration(page.dwell_ms || 0)));
        li.appendChild(el("span", "url muted", page.url));
        trail.appendChild(li);
      });
      box.appendChild(trail);
    }
    if (d.form_errors && d.form_errors.length) {
      section(box, "Form errors");
      var errs = el("ul", "form-errors");
      d.form_errors.forEach(function (e) {
        errs.appendChild(el("li", null, (e.field || "form") + ": " + (e.kind || "") + (e.msg ? " — " + e.msg : "")));
      });
      box.appendChild(errs);
    }
    var fields = Object.keys(d.fields || {});
    if (fields.length) {
      section(box, "Longest in fields");
      var fl = el("ul", "fields");
      fields.slice(0, 5).forEach(function (name) { fl.appendChild(el("li", null, name + ": " + duration(d.fields[name]))); });
      box.appendChild(fl);
    }
  }

  // --- the queue ---------------------------------------------------------------------------

  function fillRepSelect(select, options, placeholder) {
    var chosen = Array.prototype.map.call(select.selectedOptions || [], function (o) { return o.value; });
    clear(select);
    if (placeholder) {
      var first = el("option", null, placeholder);
      first.value = "";
      select.appendChild(first);
    }
    options.forEach(function (r) {
      var o = el("option", null, r.name + " (" + r.status + (r.skills && r.skills.length ? ", " + r.skills.join(", ") : "") + ")");
      o.value = r.id;
      o.selected = chosen.indexOf(r.id) >= 0;
      select.appendChild(o);
    });
  }

  function makeRequest(r) {
    var item = clone("t-request");
    item.setAttribute("data-id", r.id);
    var accept = q(item, ".accept");
    accept.addEventListener("click", function () {
      if (send({type: "accept", id: r.id})) {
        accept.disabled = true;
        accept.textContent = "Accepting…";
      }
    });
    q(item, ".offer-send").addEventListener("click", function () {
      var select = q(item, ".offer-reps");
      var chosen = Array.prototype.map.call(select.selectedOptions, function (o) { return o.value; });
      send({type: "target", id: r.id, reps: chosen, must_contact: q(item, ".offer-must").checked});
      q(item, ".offer-to").open = false;
    });
    q(item, ".history").href = "/console/visitors/" + encodeURIComponent(r.visitor);
    fillRepSelect(q(item, ".offer-reps"), reps, null);
    return item;
  }

  function updateRequest(item, r) {
    q(item, ".who").textContent = who(r.visitor_detail, r.visitor);
    q(item, ".must").hidden = !r.must_contact;
    var targeted = q(item, ".targeted");
    targeted.hidden = !(r.targets && r.targets.length);
    if (r.targets && r.targets.length) {
      var names = r.targets.map(function (id) {
        var rep = reps.find(function (x) { return x.id === id; });
        return id === ME ? "you" : (rep ? rep.name : "someone");
      });
      targeted.textContent = "offered to " + names.join(", ");
    }
    var where = q(item, ".where");
    clear(where);
    var d = r.visitor_detail;
    var title = (d && (d.title || d.url)) || r.url;
    where.appendChild(el("span", "title", title));
    if (r.url) where.appendChild(el("span", "url muted", " " + ((d && d.url) || r.url)));
    renderDetails(q(item, ".details"), r.reasons, d);
    item.setAttribute("data-created", String(r.created));
  }

  function renderQueue(list) {
    var ids = new Set();
    var box = document.getElementById("queue");
    list.sort(function (a, b) { return a.created - b.created; });
    list.forEach(function (r) {
      ids.add(r.id);
      var entry = queue.get(r.id);
      if (!entry) {
        entry = {data: r, el: makeRequest(r)};
        queue.set(r.id, entry);
        if (!firstQueue && !seen.has(r.id)) {
          beep();
          notify("A customer is waiting", who(r.visitor_detail, r.visitor) + ": " + summary(r), r.id);
        }
      }
      seen.add(r.id);
      entry.data = r;
      updateRequest(entry.el, r);
      box.appendChild(entry.el);
    });
    queue.forEach(function (entry, id) {
      if (!ids.has(id)) {
        entry.el.remove();
        queue.delete(id);
      }
    });
    firstQueue = false;
    tickWaits();
    updateTitle();
  }

  function tickWaits() {
    queue.forEach(function (entry) {
      q(entry.el, ".waited").textContent = "waiting " + duration(now() - entry.data.created);
    });
  }
  setInterval(tickWaits, 1000);

  function setReps(list) {
    reps = list;
    var key = JSON.stringify(list);
    if (key === repsKey) return;
    repsKey = key;
    queue.forEach(function (entry) { fillRepSelect(q(entry.el, ".offer-reps"), reps, null); });
    chats.forEach(function (chat) { fillTransfer(chat); });
  }

  function fillTransfer(chat) {
    var others = reps.filter(function (r) { return r.id !== ME && r.status === "available"; });
    fillRepSelect(q(chat.el, ".transfer-to"), others, others.length ? "Transfer to…" : "nobody else available");
  }

  // --- chats -------------------------------------------------------------------------------

  function makeChat(c) {
    var pane = clone("t-chat");
    pane.setAttribute("data-id", c.id);
    var chat = {data: c, el: pane, ids: new Set(), ended: false, typingTimer: null, sentTypingAt: 0};
    chats.set(c.id, chat);
    q(pane, ".history").href = "/console/visitors/" + encodeURIComponent(c.visitor);
    var form = q(pane, "form.say");
    var text = q(form, "textarea");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = text.value.trim();
      if (!value || chat.ended) return;
      var cid = "c" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
      if (!send({type: "say", chat: c.id, text: value, cid: cid})) return;
      addPending(chat, cid, value);
      text.value = "";
      chat.sentTypingAt = 0; // the next keystroke starts a new "typing…"
    });
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    text.addEventListener("input", function () {
      var t = Date.now();
      if (t - chat.sentTypingAt > TYPING_EVERY_MS && text.value.trim()) {
        chat.sentTypingAt = t;
        send({type: "typing", chat: c.id});
      }
    });
    q(pane, "form.link").addEventListener("submit", function (event) {
      event.preventDefault();
      var f = event.target;
      send({type: "link", chat: c.id, url: f.elements.url.value.trim(), title: f.elements.title.value.trim(),
            ref: "link:" + c.id});
    });
    q(pane, ".transfer").addEventListener("click", function () {
      var to = q(pane, ".transfer-to").value;
      if (!to) { showError(pane, "Choose an available representative first."); return; }
      send({type: "transfer", chat: c.id, to: to});
    });
    var end = q(pane, ".end");
    end.addEventListener("click", function () {
      if (end.getAttribute("data-confirm") !== "1") {
        end.setAttribute("data-confirm", "1");
        end.textContent = "Click again to end";
        setTimeout(function () { end.removeAttribute("data-confirm"); end.textContent = "End chat"; }, 4000);
        return;
      }
      send({type: "end", chat: c.id});
    });
    q(pane, ".close").addEventListener("click", function () {
      pane.remove();
      chats.delete(c.id);
      updateTitle();
    });
    fillTransfer(chat);
    document.getElementById("chats").appendChild(pane);
    return chat;
  }

  function renderChats(list) {
    var ids = new Set();
    list.forEach(function (c) {
      ids.add(c.id);
      var chat = chats.get(c.id) || makeChat(c);
      chat.data = c;
      q(chat.el, ".who").textContent = who(c.visitor_detail, c.visitor);
      q(chat.el, ".status").textContent = "since " + clock(c.accepted || c.created);
      renderDetails(q(chat.el, ".details"), c.reasons, c.visitor_detail);
      (c.messages || []).forEach(function (m) { addMessage(c.id, m); });
    });
    chats.forEach(function (chat, id) {
      if (!ids.has(id) && !chat.ended) markEnded(id, "This chat is no longer yours.");
    });
    updateTitle();
  }

  // The customer changed something (page, cart, an error): the details pane follows in place;
  // the messages and what the rep is typing are left alone.
  function updateVisitor(chatId, detail) {
    var chat = chats.get(chatId);
    if (!chat || chat.ended) return;
    chat.data.visitor_detail = detail;
    q(chat.el, ".who").textContent = who(detail, chat.data.visitor);
    renderDetails(q(chat.el, ".details"), chat.data.reasons, detail);
  }

  function messageNode(m) {
    var li = el("li", "msg from-" + (m.from || "system") + " kind-" + (m.kind || "text"));
    var meta = el("span", "meta", clock(m.ts || Date.now()) + " ");
    if (m.from === "rep") meta.appendChild(el("span", "name", m.name || "You"));
    else if (m.from === "visitor") meta.appendChild(el("span", "name", "Customer"));
    li.appendChild(meta);
    if (m.kind === "link" && safeUrl(m.url)) {
      var a = el("a", "text", m.title || m.url);
      a.href = safeUrl(m.url);
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      li.appendChild(el("span", "muted", "Sent a link: "));
      li.appendChild(a);
    } else {
      li.appendChild(el("span", "text", m.text));
    }
    if (m.id) li.setAttribute("data-id", m.id);
    return li;
  }

  function scrollDown(list, force) {
    var near = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (near || force) list.scrollTop = list.scrollHeight;
  }

  function addPending(chat, cid, text) {
    var li = messageNode({from: "rep", name: "You", text: text, kind: "text", ts: now()});
    li.classList.add("pending");
    li.setAttribute("data-cid", cid);
    var list = q(chat.el, ".messages");
    list.appendChild(li);
    scrollDown(list, true);
  }

  function addMessage(chatId, m) {
    var chat = chats.get(chatId);
    if (!chat || !m || !m.id || chat.ids.has(m.id)) return;
    chat.ids.add(m.id);
    var list = q(chat.el, ".messages");
    var node = messageNode(m);
    var pending = m.cid ? list.querySelector('.msg[data-cid="' + CSS.escape(m.cid) + '"]') : null;
    if (pending) list.replaceChild(node, pending);
    else list.appendChild(node);
    scrollDown(list, false);
    if (m.from === "visitor") {
      q(chat.el, ".typing").hidden = true;
      if (document.hidden) {
        beep();
        notify("New message", m.text || "", "msg-" + chatId);
      }
    }
  }

  function ack(m) {
    var chat = chats.get(m.chat);
    if (!chat) return;
    if (m.cid) {
      var pending = q(chat.el, '.msg[data-cid="' + CSS.escape(m.cid) + '"]');
      if (pending) {
        pending.classList.remove("pending");
        pending.setAttribute("data-id", m.id);
        chat.ids.add(m.id);
      }
    }
    if (m.ref && m.ref.indexOf("link:") === 0) q(chat.el, "form.link").reset();
  }

  function showTyping(chatId) {
    var chat = chats.get(chatId);
    if (!chat || chat.ended) return;
    var t = q(chat.el, ".typing");
    t.hidden = false;
    clearTimeout(chat.typingTimer);
    chat.typingTimer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  function markEnded(chatId, why) {
    var chat = chats.get(chatId);
    if (!chat || chat.ended) return;
    chat.ended = true;
    chat.el.classList.add("ended");
    q(chat.el, ".status").textContent = why;
    q(chat.el, ".typing").hidden = true;
    chat.el.querySelectorAll("textarea, input, select, button").forEach(function (b) { b.disabled = true; });
    var close = q(chat.el, ".close");
    close.hidden = false;
    close.disabled = false;
    updateTitle();
  }

  function closedElsewhere(chatId) {
    var chat = chats.get(chatId);
    if (!chat) return;
    chat.el.remove();
    chats.delete(chatId);
    toast("The chat was transferred.");
    updateTitle();
  }

  markPresence();
  connect();
})();
