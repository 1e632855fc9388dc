/* Beckon console: the representative's workspace (an ES module; the pieces are beside it).
 * One WebSocket (/console/ws) carries the queue, the rep's chats and their events.
 * Everything a visitor or colleague typed goes into the page with textContent only. */
import { q } from "./dom.js";
import { Workspace } from "./workspace.js";
import { Connection } from "./connection.js";
import { Alerts } from "./alerts.js";
import { fillRepSelect, renderQueue, tickWaits } from "./queue.js";
import {
  ack, addMessage, closedElsewhere, fillTransfer, markEnded, renderChats, resendPending, sendAgain, showTyping,
  updateVisitor,
} from "./chats.js";

const PRESENCE_EVERY_MS = 10000;
const PRESENCE_TEXT = {available: "You are available", away: "You are away", offline: "You are offline"};

function handle(w, m) {
  if (typeof m.now === "number") w.skew = m.now - Date.now();
  switch (m.type) {
    case "queue": renderQueue(w, m.requests || []); break;
    case "chats": renderChats(w, m.chats || []); break;
    case "visitor": updateVisitor(w, m.chat, m.detail); break;
    case "reps": setReps(w, m.reps || []); break;
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

function setReps(w, list) {
  w.reps = list;
  const key = JSON.stringify(list);
  if (key === w.repsKey) return;
  w.repsKey = key;
  w.queue.forEach((entry) => fillRepSelect(q(entry.el, ".offer-reps"), w.reps, null));
  w.chats.forEach((chat) => fillTransfer(w, chat));
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

function sendPresence(w) {
  return w.send({type: "presence", status: w.wanted});
}

function start(root) {
  const w = new Workspace(root);
  w.alerts = new Alerts(document.getElementById("enable-alerts"));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const conn = document.getElementById("conn");
  w.connection = new Connection(proto + "//" + location.host + "/console/ws?csrf=" + encodeURIComponent(w.csrf), {
    opened() {
      conn.textContent = "";
      sendPresence(w);
      resendPending(w);
      clearInterval(w.presenceTimer);
      w.presenceTimer = setInterval(() => sendPresence(w), PRESENCE_EVERY_MS);
    },
    message(frame) { handle(w, frame); },
    closed(event) {
      clearInterval(w.presenceTimer);
      if (event.code === 4401) { location.href = "/console/login?next=%2Fconsole%2F"; return false; }
      if (event.code === 4403) { location.reload(); return false; }
      conn.textContent = "Connection lost; reconnecting…";
      document.getElementById("presence-state").textContent = "Offline (reconnecting)";
      return true;
    },
  });

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
  w.connection.open();
}

const root = document.getElementById("workspace");
if (root) start(root);
