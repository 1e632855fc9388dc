/* The rep's open chats: one pane each with the conversation, the reply box, a page link,
 * transfer and end, and the customer's details beside it. */
import { el, clone, clock, q, safeUrl } from "./dom.js";
import { who, renderDetails } from "./details.js";
import { fillRepSelect } from "./queue.js";
import { askSuggestions, mountSuggestions } from "./suggestions.js";

const TYPING_EVERY_MS = 2000;    // "typing…" to the customer at most this often
const TYPING_SHOWN_MS = 4000;
const CONFIRM_MS = 4000;         // "End chat" asks again for this long

/** Colleagues of the chat's own site only: a chat never moves to another site. */
export function fillTransfer(w, chat) {
  const site = w.sites.get(chat.site);
  const others = site.reps.filter((r) => r.id !== site.me && r.status === "available");
  fillRepSelect(q(chat.el, ".transfer-to"), others, others.length ? "Transfer to…" : "nobody else available");
}

function makeChat(w, site, c) {
  const pane = clone("t-chat");
  pane.setAttribute("data-id", c.id);
  pane.setAttribute("data-site", site.key);
  w.label(pane, site.key);
  // pending: cid -> text of the rep's messages sent and not yet acknowledged, sent again on
  // a reconnect or when the server asks (the server keeps one copy per cid)
  const chat = {data: c, el: pane, site: site.key, ids: new Set(), pending: new Map(), ended: false,
                typingTimer: null, sentTypingAt: 0};
  w.chats.set(c.id, chat);
  q(pane, ".history").href = "/console/visitors/" + encodeURIComponent(c.visitor) + "?site=" +
    encodeURIComponent(site.key);
  // published best practices for this chat's context, and marking this one as one
  q(pane, ".examples").href = "/console/practices?chat=" + encodeURIComponent(c.id) + "&site=" +
    encodeURIComponent(site.key);
  q(pane, ".mark-practice").href = "/console/chats/" + encodeURIComponent(c.id) + "/practice?site=" +
    encodeURIComponent(site.key);
  const form = q(pane, "form.say");
  const text = q(form, "textarea");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value || chat.ended) return;
    const cid = "c" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
    const said = {type: "say", chat: c.id, text: value, cid: cid};
    if (chat.material) said.material = chat.material;  // began as a library reply: its use counts
    if (!w.send(said, site.key)) return;
    addPending(w, chat, cid, value);
    text.value = "";
    chat.material = "";
    chat.sentTypingAt = 0; // the next keystroke starts a new "typing…"
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  text.addEventListener("input", () => {
    const t = Date.now();
    if (t - chat.sentTypingAt > TYPING_EVERY_MS && text.value.trim()) {
      chat.sentTypingAt = t;
      w.send({type: "typing", chat: c.id}, site.key);
    }
  });
  q(pane, "form.link").addEventListener("submit", (event) => {
    event.preventDefault();
    const f = event.target;
    w.send({type: "link", chat: c.id, url: f.elements.url.value.trim(), title: f.elements.title.value.trim(),
            ref: "link:" + c.id}, site.key);
  });
  q(pane, "form.sale").addEventListener("submit", (event) => {  // closed by phone, or later
    event.preventDefault();
    const f = event.target;
    const sale = "s" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
    w.send({type: "sale", chat: c.id, value: f.elements.value.value.trim(),
            currency: f.elements.currency.value.trim().toUpperCase(), product: f.elements.product.value.trim(),
            category: f.elements.category.value.trim(), cid: sale, ref: "sale:" + c.id}, site.key);
  });
  q(pane, ".no-sale").addEventListener("click", () => {
    w.send({type: "no_sale", chat: c.id, ref: "nosale:" + c.id}, site.key);
  });
  q(pane, ".transfer").addEventListener("click", () => {
    const to = q(pane, ".transfer-to").value;
    if (!to) { w.showError(pane, "Choose an available representative first."); return; }
    w.send({type: "transfer", chat: c.id, to: to}, site.key);
  });
  const resolve = q(pane, ".resolve");  // while the chat goes on or just after its end, once
  resolve.addEventListener("click", () => { w.send({type: "resolved", chat: c.id}, chat.site); });
  const end = q(pane, ".end");
  end.addEventListener("click", () => {
    if (end.getAttribute("data-confirm") !== "1") {
      end.setAttribute("data-confirm", "1");
      end.textContent = "Click again to end";
      setTimeout(() => { end.removeAttribute("data-confirm"); end.textContent = "End chat"; }, CONFIRM_MS);
      return;
    }
    w.send({type: "end", chat: c.id}, site.key);
  });
  q(pane, ".close").addEventListener("click", () => {
    pane.remove();
    w.chats.delete(c.id);
    w.updateTitle();
  });
  fillTransfer(w, chat);
  document.getElementById("chats").appendChild(pane);
  mountSuggestions(w, chat);
  return chat;
}

/** The server's list of the rep's chats on one site (on connect and when one opens or closes). */
export function renderChats(w, site, list) {
  const ids = new Set();
  list.forEach((c) => {
    ids.add(c.id);
    const chat = w.chats.get(c.id) || makeChat(w, site, c);
    chat.data = c;
    q(chat.el, ".who").textContent = who(c.visitor_detail, c.visitor);
    q(chat.el, ".status").textContent = "since " + clock(c.accepted || c.created);
    if (c.resolved) markResolved(w, c.id);
    renderDetails(q(chat.el, ".details"), c.reasons, c.visitor_detail);
    (c.messages || []).forEach((m) => addMessage(w, c.id, m));
  });
  w.chats.forEach((chat, id) => {
    if (chat.site === site.key && !ids.has(id) && !chat.ended) markEnded(w, id, "This chat is no longer yours.");
  });
  w.updateTitle();
}

/** The customer changed something (page, cart, an error): the details pane follows in place;
 * the messages and what the rep is typing are left alone. */
export function updateVisitor(w, chatId, detail) {
  const chat = w.chats.get(chatId);
  if (!chat || chat.ended) return;
  chat.data.visitor_detail = detail;
  q(chat.el, ".who").textContent = who(detail, chat.data.visitor);
  renderDetails(q(chat.el, ".details"), chat.data.reasons, detail);
  askSuggestions(w, chat, false);  // another page may be another product
}

const DOC_TYPES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
                   "image/webp": "WebP"};

/** "PDF · 84 KB": what a sent document is, as the customer's card says it. */
function docMeta(m) {
  const n = Number(m.size);
  const size = !(n >= 0) || !isFinite(n) ? "" : n < 1024 ? n + " B" : n < 1048576 ? Math.round(n / 1024) + " KB"
    : (n / 1048576).toFixed(1) + " MB";
  const type = Object.prototype.hasOwnProperty.call(DOC_TYPES, m.content_type) ? DOC_TYPES[m.content_type] : "";
  return [type, size].filter(Boolean).join(" \u00b7 ");
}

/** A document sent to the customer, as a card (the customer's signed download link). */
function docCard(m) {
  const name = m.filename ? String(m.filename) : "document";
  const a = el("a", "doc");
  a.href = safeUrl(m.url);
  a.rel = "noopener noreferrer";
  a.setAttribute("download", name);
  a.appendChild(el("strong", "doc-title", m.title || name));
  a.appendChild(el("span", "doc-name", name));
  a.appendChild(el("span", "doc-meta", docMeta(m)));
  return a;
}

function messageNode(m) {
  const li = el("li", "msg from-" + (m.from || "system") + " kind-" + (m.kind || "text"));
  const meta = el("span", "meta", clock(m.ts || Date.now()) + " ");
  if (m.from === "rep") meta.appendChild(el("span", "name", m.name || "You"));
  else if (m.from === "visitor") meta.appendChild(el("span", "name", "Customer"));
  li.appendChild(meta);
  if (m.kind === "link" && safeUrl(m.url)) {
    const a = el("a", "text", m.title || m.url);
    a.href = safeUrl(m.url);
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    li.appendChild(el("span", "muted", "Sent a link: "));
    li.appendChild(a);
  } else if (m.kind === "document" && safeUrl(m.url)) {
    li.appendChild(el("span", "muted", "Sent a document:"));
    li.appendChild(docCard(m));
  } else {
    li.appendChild(el("span", "text", m.text));
  }
  if (m.id) li.setAttribute("data-id", m.id);
  return li;
}

/** Follows new messages only while the rep is at the bottom: reading back is not disturbed. */
function scrollDown(list, force) {
  const near = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  if (near || force) list.scrollTop = list.scrollHeight;
}

function addPending(w, chat, cid, text) {
  chat.pending.set(cid, text);
  const li = messageNode({from: "rep", name: "You", text: text, kind: "text", ts: w.now()});
  li.classList.add("pending");
  li.setAttribute("data-cid", cid);
  const list = q(chat.el, ".messages");
  list.appendChild(li);
  scrollDown(list, true);
}

/** Each message once, whether it comes with the chat list, live, or as our own echo. */
export function addMessage(w, chatId, m) {
  const chat = w.chats.get(chatId);
  if (!chat || !m || !m.id || chat.ids.has(m.id)) return;
  chat.ids.add(m.id);
  const list = q(chat.el, ".messages");
  const node = messageNode(m);
  const pending = m.cid ? list.querySelector('.msg[data-cid="' + CSS.escape(m.cid) + '"]') : null;
  if (m.cid) chat.pending.delete(m.cid);
  if (pending) list.replaceChild(node, pending);
  else list.appendChild(node);
  scrollDown(list, false);
  if (m.from === "visitor") {
    q(chat.el, ".typing").hidden = true;
    if (document.hidden) {
      w.alerts.beep();
      w.alerts.notify("New message", m.text || "", "msg-" + chatId);
    }
  }
}

export function ack(w, m) {
  const chat = w.chats.get(m.chat);
  if (!chat) return;
  if (m.cid) {
    chat.pending.delete(m.cid);
    const pending = q(chat.el, '.msg[data-cid="' + CSS.escape(m.cid) + '"]');
    if (pending && chat.ids.has(m.id)) {
      pending.remove(); // shown already: it came with the chat list after a reconnect
    } else if (pending) {
      pending.classList.remove("pending", "failed");
      pending.setAttribute("data-id", m.id);
      chat.ids.add(m.id);
    }
  }
  if (m.ref && m.ref.startsWith("link:")) q(chat.el, "form.link").reset();
  if (m.ref && m.ref.startsWith("nosale:")) {
    const done = q(chat.el, "form.sale .sale-done");
    done.textContent = "Marked: no sale";
    done.hidden = false;
  }
  if (m.ref && m.ref.startsWith("sale:")) {
    const form = q(chat.el, "form.sale");
    const done = q(form, ".sale-done");
    done.textContent = "Sale recorded: " + form.elements.value.value.trim() + " " + form.elements.currency.value.trim().toUpperCase();
    done.hidden = false;
    form.elements.value.value = "";
  }
}

/** The server could not be sure it kept one of our messages (its storage failing over):
 * it stays pending and goes again, same cid, after ``ms``. False when it is not ours. */
export function sendAgain(w, cid, ms) {
  for (const [id, chat] of w.chats) {
    if (!chat.pending.has(cid)) continue;
    setTimeout(() => {
      if (chat.pending.has(cid)) w.send({type: "say", chat: id, text: chat.pending.get(cid), cid: cid}, chat.site);
    }, Math.min(ms, 30000));
    return true;
  }
  return false;
}

/** After a site's socket reconnects: every message of its chats still unacknowledged goes
 * again (stored once per cid). */
export function resendPending(w, site) {
  w.chats.forEach((chat, id) => {
    if (!chat.ended && chat.site === site.key) {
      chat.pending.forEach((text, cid) => w.send({type: "say", chat: id, text: text, cid: cid}, site.key));
    }
  });
}

export function showTyping(w, chatId) {
  const chat = w.chats.get(chatId);
  if (!chat || chat.ended) return;
  const t = q(chat.el, ".typing");
  t.hidden = false;
  clearTimeout(chat.typingTimer);
  chat.typingTimer = setTimeout(() => { t.hidden = true; }, TYPING_SHOWN_MS);
}

/** An ended chat stays readable until the rep closes it; nothing in it can be used. */
export function markEnded(w, chatId, why) {
  const chat = w.chats.get(chatId);
  if (!chat || chat.ended) return;
  chat.ended = true;
  chat.el.classList.add("ended");
  q(chat.el, ".status").textContent = why;
  q(chat.el, ".typing").hidden = true;
  chat.el.querySelectorAll("textarea, input, select, button").forEach((b) => { b.disabled = true; });
  q(chat.el, ".resolve").disabled = !!chat.resolved;  // it may still be marked resolved
  const close = q(chat.el, ".close");
  close.hidden = false;
  close.disabled = false;
  w.updateTitle();
}

export function closedElsewhere(w, chatId) {
  const chat = w.chats.get(chatId);
  if (!chat) return;
  chat.el.remove();
  w.chats.delete(chatId);
  w.toast("The chat was transferred.");
  w.updateTitle();
}

/** The rep marked the chat resolved (here or in another of their consoles). */
export function markResolved(w, chatId) {
  const chat = w.chats.get(chatId);
  if (!chat) return;
  chat.resolved = true;
  const button = q(chat.el, ".resolve");
  button.disabled = true;
  button.setAttribute("aria-pressed", "true");
  button.textContent = "Resolved";
}

/** The customer rated the chat after its end: shown on it while the rep still has it open. */
export function showRating(w, chatId, stars, comment) {
  const chat = w.chats.get(chatId);
  if (!chat || typeof stars !== "number") return;
  const n = Math.max(1, Math.min(5, Math.round(stars)));
  const p = q(chat.el, ".rating");
  p.textContent = "";
  p.appendChild(el("span", "stars", "\u2605".repeat(n) + "\u2606".repeat(5 - n)));
  p.appendChild(el("span", "", " The customer rated this chat " + n + " of 5" + (comment ? ": " : ".")));
  if (comment) p.appendChild(el("q", "comment", String(comment)));
  p.hidden = false;
}
