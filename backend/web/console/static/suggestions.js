/* Beside each chat: the materials that suit it (the server ranks them by what sold in chats
 * like this one, and still tries new ones), and a search of the whole library. A reply goes
 * into the message box to edit before sending, and its use is counted when it is sent; a link
 * or a document goes to the customer as a card at once. Text goes in with textContent only. */
import { clone, q } from "./dom.js";

const KIND = {reply: "Reply", link: "Link", document: "Document"};
const ASK_AGAIN_MS = 30000;  // the customer moves on (another product): at most this often

export function mountSuggestions(w, chat) {
  const box = q(chat.el, ".suggest");
  if (!box) return;
  q(box, ".suggest-refresh").addEventListener("click", () => askSuggestions(w, chat, true));
  q(box, "form.suggest-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = event.target.elements.q.value.trim();
    chat.query = query;
    w.send({type: "suggest", chat: chat.data.id, q: query, ref: chat.data.id}, chat.site);
  });
  askSuggestions(w, chat, true);
}

/** Ask the server again (on open, on a refresh, when the customer's page changed). */
export function askSuggestions(w, chat, now) {
  if (chat.ended || chat.query) return;
  const t = Date.now();
  if (!now && t - (chat.suggestedAt || 0) < ASK_AGAIN_MS) return;
  chat.suggestedAt = t;
  w.send({type: "suggest", chat: chat.data.id, ref: chat.data.id}, chat.site);
}

function sizeText(doc) {
  if (!doc) return "";
  const kb = doc.size / 1024;
  const type = (doc.content_type || "").split("/").pop().toUpperCase();
  return type + " · " + (kb < 1024 ? Math.max(1, Math.round(kb)) + " KB" : (kb / 1024).toFixed(1) + " MB");
}

export function showSuggestions(w, frame) {
  const chat = w.chats.get(frame.chat);
  if (!chat) return;
  const box = q(chat.el, ".suggest");
  const list = q(box, ".suggestions");
  const items = Array.isArray(frame.items) ? frame.items : [];
  q(box, ".suggest-title").textContent = frame.q ? "Library: “" + frame.q + "”" : "Suggested for this chat";
  q(box, ".suggest-empty").hidden = items.length > 0;
  list.replaceChildren(...items.map((item) => suggestionNode(w, chat, item)));
}

function suggestionNode(w, chat, item) {
  const li = clone("t-suggestion");
  li.setAttribute("data-id", String(item.id));
  li.setAttribute("data-kind", String(item.kind));
  q(li, ".s-kind").textContent = KIND[item.kind] || "";
  q(li, ".s-title").textContent = item.title || "";
  const body = item.kind === "document" ? [item.document && item.document.filename, sizeText(item.document)]
    .filter(Boolean).join(" — ") : item.kind === "link" ? item.url : item.text;
  q(li, ".s-text").textContent = body || "";
  q(li, ".s-why").textContent = item.why || "";
  const use = q(li, ".s-use");
  use.textContent = item.kind === "reply" ? "Insert" : "Send to customer";
  use.addEventListener("click", () => {
    if (chat.ended) return;
    if (item.kind === "reply") {
      const text = q(chat.el, "form.say textarea");
      text.value = text.value.trim() ? text.value.trimEnd() + " " + item.text : item.text;
      chat.material = String(item.id);  // counted as used when this message is sent
      text.focus();
    } else {
      w.send({type: "material", chat: chat.data.id, material: item.id, ref: "link:" + chat.data.id}, chat.site);
    }
  });
  return li;
}
