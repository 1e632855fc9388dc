/* The workspace's state, all of it in one object: what the rep wants to be, the requests
 * and chats on screen, the colleagues, and the server's clock. The other modules get this
 * object and keep nothing of their own. */
import { q } from "./dom.js";

const PRESENCE_KEY = "beckon.presence";
const TOAST_MS = 6000;
const ERROR_MS = 8000;

export class Workspace {
  constructor(root) {
    this.csrf = root.getAttribute("data-csrf");
    this.me = root.getAttribute("data-rep");
    this.wanted = sessionStorage.getItem(PRESENCE_KEY) === "available" ? "available" : "away";
    this.skew = 0;             // server clock minus ours
    this.queue = new Map();    // request id -> {data, el}
    this.chats = new Map();    // chat id -> {data, el, ids: Set, ended, typingTimer, sentTypingAt}
    this.reps = [];            // colleagues and their presence
    this.repsKey = "";
    this.seen = new Set();     // request ids already announced
    this.firstQueue = true;    // what waits when the page opens is not news: no beep
    this.baseTitle = document.title;
    this.connection = null;    // set by console.js
    this.alerts = null;
    this.presenceTimer = null;
    this.toastTimer = null;
  }

  now() {
    return Date.now() + this.skew;
  }

  want(status) {
    this.wanted = status;
    sessionStorage.setItem(PRESENCE_KEY, status);
  }

  send(message) {
    if (!this.connection || !this.connection.send(message)) {
      this.toast("Not connected; reconnecting…");
      return false;
    }
    return true;
  }

  toast(message) {
    const t = document.getElementById("toast");
    t.textContent = message;
    t.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { t.hidden = true; }, TOAST_MS);
  }

  /** The error next to what failed (a request, a chat), or a toast when there is no such place. */
  showError(node, message) {
    const e = node && q(node, ".error");
    if (!e) { this.toast(message); return; }
    e.textContent = message;
    e.hidden = false;
    clearTimeout(e._timer);
    e._timer = setTimeout(() => { e.hidden = true; }, ERROR_MS);
  }

  /** Counts in the headings and in the tab title, so a waiting customer shows in another tab. */
  updateTitle() {
    const n = this.queue.size;
    document.title = (n ? "(" + n + ") " : "") + this.baseTitle;
    document.getElementById("queue-count").textContent = String(n);
    document.getElementById("queue-empty").hidden = n > 0;
    let open = 0;
    this.chats.forEach((chat) => { if (!chat.ended) open += 1; });
    document.getElementById("chats-count").textContent = String(open);
    document.getElementById("chats-empty").hidden = this.chats.size > 0;
  }
}
