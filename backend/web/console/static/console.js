/* Beckon console: the representative's workspace (an ES module; the pieces are beside it).
 * One WebSocket per site the rep serves (/console/ws?site=KEY) carries that site's queue, the
 * rep's chats there and their events; whatever the rep does goes back on the socket of the
 * site it concerns, and presence (available / away) goes to every site.
 * Everything a visitor or colleague typed goes into the page with textContent only. */
import { q } from "./dom.js";
import { Workspace } from "./workspace.js";
import { Connection } from "./connection.js";
import { Alerts } from "./alerts.js";
import { fillRepSelect, renderQueue, tickWaits } from "./queue.js";
import {
  ack, addMessage, closedElsewhere, fillTransfer, markEnded, markResolved, renderChats, resendPending, sendAgain,
  showRating, showTyping, updateVisitor,
} from "./chats.js";
import { showSuggestions } from "./suggestions.js";

const PRESENCE_EVERY_MS = 10000;
const PRESENCE_TEXT = {available: "You are available", away: "You are away", offline: "You are offline"};

function handle(w, site, m) {
  if (typeof m.now === "number") w.skew = m.now - Date.now();
  switch (m.type) {
    case "queue": renderQueue(w, site, m.requests || []); break;
    case "chats": renderChats(w, site, m.chats || []); break;
    case "visitor": updateVisitor(w, m.chat, m.detail); break;
    case "reps": setReps(w, site, m.reps || []); break;
    case "presence": showPresence(w, m.status); break;
    case "ack": ack(w, m); break;
    case "error":
      // a message the server could not be sure it kept goes again; anything else is shown
      if (!(m.retry > 0 && sendAgain(w, m.ref || "", m.retry))) {
        routeError(w, m.ref || "", m.message || "That did not work.");
      }
      break;
    case "msg": addMessage(w, m.chat, m.msg); break;
    case "typing": if (m.from === "visitor") showTyping(w, m.chat); break;
    case "ended": markEnded(w, m.chat, m.by === "visitor" ? "The customer ended the chat." : "Chat ended."); break;
    case "chat-closed": closedElsewhere(w, m.id); break;
    case "rated": showRating(w, m.chat, m.stars, m.comment); break;
    case "resolved": markResolved(w, m.chat); break;
    case "suggestions": showSuggestions(w, m); break;
    case "lead": // a lead routed to this rep: a notification (the details came by e-mail, if chosen)
      w.toast((m.kind === "purchase" ? "Purchase by " : "New lead: ") + (m.name || m.email || m.phone || "a customer") +
              (m.model ? " · " + m.model : "") + (m.why ? " — " + m.why : ""));
      break;
    case "customer-needs-help": // a customer of theirs struggles on the site now
      w.toast("Your customer " + (m.name || "") + " needs help now" + (m.page ? " on " + m.page : ""));
      break;
    default: break;
  }
}

/** An error goes where the rep acted: the request, the chat, or the message that failed. */
function routeError(w, ref, message) {
  if (ref.startsWith("link:")) ref = ref.slice(5);
  if (w.queue.has(ref)) {
    const item = w.queue.get(ref).el;
    const button = q(item, ".accept");
    button.disabled = false;
    button.textContent = "Accept";
    w.showError(item, message);
    w.toast(message); // the item may vanish with the next snapshot; the reason must not
    return;
  }
  if (w.chats.has(ref)) { w.showError(w.chats.get(ref).el, message); return; }
  const pending = document.querySelector('.msg.pending[data-cid="' + CSS.escape(ref) + '"]');
  if (pending) {
    w.chats.forEach((chat) => chat.pending.delete(ref)); // refused: not sent again
    pending.classList.add("failed");
    pending.classList.remove("pending");
    w.showError(pending.closest(".chat"), message);
    return;
  }
  w.toast(message);
}

/** A site's colleagues: offered and transferred to within that site only. */
function setReps(w, site, list) {
  site.reps = list;
  const key = JSON.stringify(list);
  if (key === site.repsKey) return;
  site.repsKey = key;
  w.queue.forEach((entry) => { if (entry.site === site.key) fillRepSelect(q(entry.el, ".offer-reps"), list, null); });
  w.chats.forEach((chat) => { if (chat.site === site.key) fillTransfer(w, chat); });
}

// --- presence -------------------------------------------------------------------------

function markPresence(w) {
  document.querySelectorAll("[data-presence]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.getAttribute("data-presence") === w.wanted));
  });
}

function showPresence(w, status) {
  document.getElementById("presence-state").textContent = PRESENCE_TEXT[status] || "";
  markPresence(w);
}

/** Presence is the person's: the same status on every site they serve. */
function sendPresence(w, only) {
  let sent = false;
  w.sites.forEach((site) => {
    if (!only || only === site) sent = w.send({type: "presence", status: w.wanted}, site.key) || sent;
  });
  return sent;
}

function connect(w, site, base) {
  const conn = document.getElementById("conn");
  site.connection = new Connection(base + "&site=" + encodeURIComponent(site.key), {
    opened() {
      conn.textContent = "";
      sendPresence(w, site);
      resendPending(w, site);
      clearInterval(site.presenceTimer);
      site.presenceTimer = setInterval(() => sendPresence(w, site), PRESENCE_EVERY_MS);
    },
    message(frame) { handle(w, site, frame); },
    closed(event) {
      clearInterval(site.presenceTimer);
      // logged out, or this site's membership ended: the page shows what is left
      if (event.code === 4401 || event.code === 4403) { location.reload(); return false; }
      conn.textContent = "Connection lost; reconnecting…";
      document.getElementById("presence-state").textContent = "Offline (reconnecting)";
      return true;
    },
  });
  site.connection.open();
}

function start(root) {
  const w = new Workspace(root);
  w.alerts = new Alerts(document.getElementById("enable-alerts"));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const base = proto + "//" + location.host + "/console/ws?csrf=" + encodeURIComponent(w.csrf);

  document.querySelectorAll("[data-presence]").forEach((button) => {
    button.addEventListener("click", () => {
      w.want(button.getAttribute("data-presence"));
      w.alerts.unlock();
      markPresence(w);
      // the state line changes when the server confirms, not before
      if (sendPresence(w)) document.getElementById("presence-state").textContent = "Updating…";
    });
    button.disabled = false;
  });
  setInterval(() => tickWaits(w), 1000);
  markPresence(w);
  w.sites.forEach((site) => connect(w, site, base));
}

const root = document.getElementById("workspace");
if (root) start(root);
