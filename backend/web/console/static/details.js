/* The visitor details beside a request or a chat: who, why they were flagged, their pages,
 * form errors and the fields they lingered in. */
import { el, duration } from "./dom.js";

// rule name -> [label, unit]: the server's (backend/core/scoring.py RULE_LABELS), handed over
// in the page as a JSON data block, so no rule is named twice.
const LABELS = readLabels();

function readLabels() {
  const block = document.getElementById("rule-labels");
  try { return JSON.parse(block.textContent) || {}; } catch (e) { return {}; }
}

/** A rule's value with its unit; seconds (21.772) as whole seconds or minutes: "22 s", "1 min 5 s". */
function withUnit(value, unit) {
  if (unit === "s" && typeof value === "number") return duration(value * 1000);
  return unit ? value + " " + unit : String(value);
}

/** Identical errors (field, kind, message) once each, in order, with how often they happened. */
function grouped(errors) {
  const groups = new Map();
  errors.forEach((e) => {
    const key = JSON.stringify([e.field || "", e.kind || "", e.msg || ""]);
    const group = groups.get(key);
    if (group) group.n += 1;
    else groups.set(key, {e: e, n: 1});
  });
  return [...groups.values()];
}

export function who(detail, vid) {
  const p = (detail && detail.profile) || {};
  return p.name || p.email || p.id || ("Visitor " + String(vid || "").slice(0, 8));
}

/** The rules a request fired, in a line (for a notification). */
export function summary(r) {
  return (r.reasons || []).map((x) => (LABELS[x.rule] || [x.rule])[0]).join(", ");
}

function reasonText(r) {
  const [label, unit] = LABELS[r.rule] || [r.rule, ""];
  const value = r.value;
  let text = label;
  if (typeof value === "boolean") text += value ? "" : ": no";
  else if (value !== null && value !== undefined && value !== "") text += ": " + withUnit(value, unit);
  if (r.threshold) text += " (threshold " + withUnit(r.threshold, unit) + ")";
  return text;
}

/** Fills `box` afresh; built aside and swapped in at once, so nothing around it jumps. */
export function renderDetails(box, reasons, d) {
  const out = document.createDocumentFragment();
  const section = (title) => out.appendChild(el("h4", null, title));
  const facts = el("dl", "facts");
  const fact = (term, value) => {
    if (value === "" || value === null || value === undefined) return;
    facts.appendChild(el("dt", null, term));
    facts.appendChild(el("dd", null, value));
  };
  const p = (d && d.profile) || {};
  fact("Name", p.name);
  fact("E-mail", p.email);
  fact("Customer id", p.id);
  fact("Identity", p.verified === "1" ? "signed by the site" : p.verified === "0" ? "unverified: not signed by the site" : "");
  if (d && d.cart_value) fact("Cart", d.cart_value + (d.currency ? " " + d.currency : ""));
  if (d) fact("Visits to this page", d.visits || "");
  if (d && d.flagged) fact("Flagged", "yes");
  out.appendChild(facts);

  section("Why flagged");
  const list = el("ul", "reasons");
  (reasons || []).forEach((r) => {
    const li = el("li", r.fired ? "fired" : null, reasonText(r));
    li.setAttribute("data-rule", r.rule);
    if (typeof r.contribution === "number") li.appendChild(el("span", "contrib", " +" + r.contribution));
    list.appendChild(li);
  });
  if (!list.firstChild) list.appendChild(el("li", "muted", "no rule recorded"));
  out.appendChild(list);

  if (!d) {
    out.appendChild(el("p", "muted", "The visit has expired."));
  } else {
    if (d.pages && d.pages.length) {
      section("Pages");
      const trail = el("ol", "trail");
      d.pages.forEach((page) => {
        const li = el("li");
        li.appendChild(el("span", "title", page.title || page.url));
        li.appendChild(el("span", "dwell", " · " + duration(page.dwell_ms || 0)));
        li.appendChild(el("span", "url muted", page.url));
        trail.appendChild(li);
      });
      out.appendChild(trail);
    }
    if (d.form_errors && d.form_errors.length) {
      section("Form errors");
      const errs = el("ul", "form-errors");
      grouped(d.form_errors).forEach(({e, n}) => {
        const text = (e.field || "form") + ": " + (e.kind || "") + (e.msg ? " — " + e.msg : "");
        errs.appendChild(el("li", null, n > 1 ? text + " × " + n : text));
      });
      out.appendChild(errs);
    }
    const fields = Object.keys(d.fields || {});
    if (fields.length) {
      section("Longest in fields");
      const fl = el("ul", "fields");
      fields.slice(0, 5).forEach((name) => fl.appendChild(el("li", null, name + ": " + duration(d.fields[name]))));
      out.appendChild(fl);
    }
  }
  box.replaceChildren(out);
}
