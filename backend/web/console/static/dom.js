/* Small DOM and formatting helpers shared by the console and the admin pages.
 * Text goes in with textContent only: nothing a visitor or colleague typed is parsed as markup. */

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function clear(node) {
  node.replaceChildren();
}

/** A fresh copy of a <template>'s element: the markup lives in the page, not in scripts. */
export function clone(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

export function q(node, sel) {
  return node.querySelector(sel);
}

/** Whole seconds, or minutes and seconds: "22 s", "1 min 5 s". */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return m ? m + " min " + (s % 60) + " s" : s + " s";
}

export function clock(ts) {
  return new Date(ts).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

/** Only http(s) links become hrefs: a javascript: URL from a message must never be one. */
export function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : "";
}
