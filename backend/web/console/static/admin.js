/* Beckon admin pages (an ES module): copy the script tag, and keep the live visitor table
 * fresh. Visitor-supplied strings go into the page with textContent only. */
import { el, clear } from "./dom.js";

const REFRESH_MS = 3000;

document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.addEventListener("click", () => {
    const source = document.getElementById(button.getAttribute("data-copy"));
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done, () => source.select());
    } else {
      source.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies by hand */ }
    }
  });
});

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function row(v) {
  const tr = el("tr", v.needs_assistance ? "needy" : "");
  const p = v.profile || {};
  let td = el("td");
  const a = el("a", null, p.name || p.email || v.visitor);
  a.href = "/console/visitors/" + encodeURIComponent(v.visitor);
  td.appendChild(a);
  tr.appendChild(td);
  td = el("td", null, v.title || v.url);
  td.appendChild(el("br"));
  td.appendChild(el("span", "muted small", v.url));
  tr.appendChild(td);
  td = el("td", null, v.score);
  if (v.needs_assistance) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "badge", "needs help")); }
  tr.appendChild(td);
  td = el("td");
  (v.reasons || []).forEach((r) => {
    const text = String(r.rule).replace(/_/g, " ") + (typeof r.value === "boolean" ? "" : " " + r.value);
    td.appendChild(el("span", "reason", text));
    td.appendChild(document.createTextNode(" "));
  });
  tr.appendChild(td);
  tr.appendChild(el("td", null, v.cart_value ? v.cart_value + " " + (v.currency || "") : ""));
  tr.appendChild(el("td", null, clock(v.last)));
  return tr;
}

function refresh(body) {
  fetch("/console/admin/visitors.json", {credentials: "same-origin", headers: {Accept: "application/json"}})
    .then((r) => {
      if (r.redirected || r.status === 401 || r.status === 403) { location.reload(); throw new Error("logged out"); }
      return r.json();
    })
    .then((data) => {
      clear(body);
      const list = data.visitors || [];
      list.forEach((v) => body.appendChild(row(v)));
      if (!list.length) {
        const tr = el("tr", "empty");
        const td = el("td", "muted", "No visitors right now.");
        td.colSpan = 6;
        tr.appendChild(td);
        body.appendChild(tr);
      }
      document.getElementById("visitor-count").textContent = String(list.length);
      document.getElementById("refreshed").textContent = "Updated " + new Date().toLocaleTimeString();
    })
    .catch(() => { /* try again on the next tick */ });
}

const table = document.getElementById("visitors");
if (table) {
  const body = table.querySelector("tbody");
  setInterval(() => { if (!document.hidden) refresh(body); }, REFRESH_MS);
}
