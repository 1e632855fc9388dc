/* The queue: customers waiting for a representative, oldest first, each with Accept and
 * "Offer to…" (colleagues who should take it). */
import { el, clear, clone, q, duration } from "./dom.js";
import { who, summary, renderDetails } from "./details.js";

/** Options of representatives; what was chosen stays chosen across refreshes. */
export function fillRepSelect(select, options, placeholder) {
  const chosen = Array.from(select.selectedOptions || [], (o) => o.value);
  clear(select);
  if (placeholder) {
    const first = el("option", null, placeholder);
    first.value = "";
    select.appendChild(first);
  }
  options.forEach((r) => {
    const skills = r.skills && r.skills.length ? ", " + r.skills.join(", ") : "";
    const o = el("option", null, r.name + " (" + r.status + skills + ")");
    o.value = r.id;
    o.selected = chosen.includes(r.id);
    select.appendChild(o);
  });
}

function makeRequest(w, site, r) {
  const item = clone("t-request");
  item.setAttribute("data-id", r.id);
  item.setAttribute("data-site", site.key);
  w.label(item, site.key);
  const accept = q(item, ".accept");
  accept.addEventListener("click", () => {
    if (w.send({type: "accept", id: r.id}, site.key)) {
      accept.disabled = true;
      accept.textContent = "Accepting…";
    }
  });
  q(item, ".offer-send").addEventListener("click", () => {
    const chosen = Array.from(q(item, ".offer-reps").selectedOptions, (o) => o.value);
    w.send({type: "target", id: r.id, reps: chosen, must_contact: q(item, ".offer-must").checked}, site.key);
    q(item, ".offer-to").open = false;
  });
  q(item, ".history").href = "/console/visitors/" + encodeURIComponent(r.visitor) + "?site=" +
    encodeURIComponent(site.key);
  fillRepSelect(q(item, ".offer-reps"), site.reps, null);
  return item;
}

const RULE_NAMES = {skill: "skill", language: "language", area: "area", accreditation: "accreditation",
  account_owner: "account owner", capacity: "free capacity", fairness: "time since last chat", results: "results"};

/** Why matching sent this request to this rep: the rule set, their score, its largest parts. */
function renderWhy(box, why) {
  box.hidden = !why;
  if (!why) return;
  const parts = (why.top || []).map((t) => (RULE_NAMES[t[0]] || String(t[0])) + " " + Number(t[1]).toFixed(2));
  box.textContent = "Sent to you by “" + why.rule_set + "”" +
    (why.score === null ? "" : ": score " + Number(why.score).toFixed(2)) +
    (parts.length ? " (" + parts.join(", ") + ")" : "");
}

function updateRequest(site, item, r) {
  q(item, ".who").textContent = who(r.visitor_detail, r.visitor);
  q(item, ".must").hidden = !r.must_contact;
  const targeted = q(item, ".targeted");
  const targets = r.targets || [];
  targeted.hidden = !targets.length;
  if (targets.length) {
    const names = targets.map((id) => {
      const rep = site.reps.find((x) => x.id === id);
      return id === site.me ? "you" : (rep ? rep.name : "someone");
    });
    targeted.textContent = "offered to " + names.join(", ");
  }
  const where = q(item, ".where");
  clear(where);
  const d = r.visitor_detail;
  where.appendChild(el("span", "title", (d && (d.title || d.url)) || r.url));
  if (r.url) where.appendChild(el("span", "url muted", " " + ((d && d.url) || r.url)));
  renderWhy(q(item, ".why"), r.why);
  renderDetails(q(item, ".details"), r.reasons, d);
  item.setAttribute("data-created", String(r.created));
}

/** A full snapshot of one site's queue: new requests appear (and alert), gone ones go. */
export function renderQueue(w, site, list) {
  const ids = new Set();
  const box = document.getElementById("queue");
  list.sort((a, b) => a.created - b.created);
  list.forEach((r) => {
    ids.add(r.id);
    let entry = w.queue.get(r.id);
    if (!entry) {
      entry = {data: r, el: makeRequest(w, site, r), site: site.key};
      w.queue.set(r.id, entry);
      if (site.queued && !w.seen.has(r.id)) {
        w.alerts.beep();
        w.alerts.notify("A customer is waiting", who(r.visitor_detail, r.visitor) + ": " + summary(r), r.id);
      }
    }
    w.seen.add(r.id);
    entry.data = r;
    updateRequest(site, entry.el, r);
    box.appendChild(entry.el);
  });
  w.queue.forEach((entry, id) => {
    if (entry.site === site.key && !ids.has(id)) {
      entry.el.remove();
      w.queue.delete(id);
    }
  });
  site.queued = true; // what waits when the page opens is not news: no beep
  tickWaits(w);
  w.updateTitle();
}

export function tickWaits(w) {
  w.queue.forEach((entry) => {
    q(entry.el, ".waited").textContent = "waiting " + duration(w.now() - entry.data.created);
  });
}
