/* The workspace's state, all of it in one object: what the rep wants to be, the sites they
 * serve (each with its own socket, rep id and colleagues), the requests and chats on screen
 * (each knowing its site), and the server's clock. The other modules get this object and
 * keep nothing of their own. */
import { q } from "./dom.js";

const PRESENCE_KEY = "beckon.presence";
const TOAST_MS = 6000;
const ERROR_MS = 8000;

export class Workspace {
  constructor(root) {
    this.csrf = root.getAttribute("data-csrf");
    this.me = root.getAttribute("data-rep");
    // site key -> {key, name, me (the rep's id there), reps (colleagues there), connection}
    this.sites = new Map();
    JSON.parse(document.getElementById("serving").textContent).forEach((s) => {
      this.sites.set(s.key, {key: s.key, name: s.name, me: s.rep, reps: [], repsKey: "", connection: null,
                               queued: false, presenceTimer: null});
    });
    this.wanted = sessionStorage.getItem(PRESENCE_KEY) === "available" ? "available" : "away";
    this.skew = 0;             // server clock minus ours
    this.queue = new Map();    // request id -> {data, el, site}
    this.chats = new Map();    // chat id -> {data, el, site, ids: Set, ended, typingTimer, sentTypingAt}
    this.seen = new Set();     // request ids already announced
    this.baseTitle = document.title;
    this.alerts = null;
    this.toastTimer = null;
  }

  now() {
    return Date.now() + this.skew;
  }

  want(status) {
    this.wanted = status;
    sessionStorage.setItem(PRESENCE_KEY, status);
  }

  /** To the socket of the site the request or chat came from (the server checks it is theirs). */
  send(message, site) {
    const s = this.sites.get(site);
    if (!s || !s.connection || !s.connection.send(message)) {
      this.toast("Not connected; reconnecting…");
      return false;
    }
    return true;
  }

  /** The site's name beside its requests and chats, when the rep serves more than one. */
  label(node, site) {
    const l = q(node, ".site-label");
    l.textContent = this.sites.size > 1 ? this.sites.get(site).name : "";
    l.hidden = this.sites.size < 2;
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
