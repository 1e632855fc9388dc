/* Records page (an ES module): a CSV file goes up as the raw body of a fetch() with the CSRF
 * token in a header and comes back as a preview (nothing written yet); Import starts it on
 * the server, and the page polls its progress every 500 ms until it finishes or stops, then
 * shows the counts and the rows that were not imported. Everything from the file or the
 * server goes in as text (textContent), never as markup. */
import { el, clear } from "./dom.js";

const box = document.getElementById("import");
const number = new Intl.NumberFormat("en-US");
const POLL_MS = 500;

const $ = (id) => document.getElementById(id);
const show = (id, on) => { $(id).hidden = !on; };

function errors(list, general) {
  const ul = $("upload-errors");
  clear(ul);
  const lines = (list || []).map((e) => (e.path ? e.path + ": " : "") + e.message);
  if (general && !lines.includes(general)) lines.unshift(general);
  for (const line of lines) ul.appendChild(el("li", null, line));
  ul.hidden = lines.length === 0;
}

async function call(url, options) {
  try {
    const r = await fetch(url, { credentials: "same-origin", ...options });
    return { status: r.status, body: await r.json().catch(() => ({})) };
  } catch (e) {
    return { status: 0, body: { error: "The server could not be reached; try again." } };
  }
}

function plural(n, one, many) {
  return number.format(n) + " " + (n === 1 ? one : many);
}

function showPreview(answer) {
  const head = $("preview-rows").tHead.rows[0];
  const body = $("preview-rows").tBodies[0];
  clear(head);
  clear(body);
  for (const name of ["Row", ...answer.columns, "Problems"]) head.appendChild(el("th", null, name));
  for (const row of answer.rows) {
    const tr = el("tr", row.errors.length ? "bad" : null);
    tr.dataset.row = row.row;
    tr.appendChild(el("td", null, row.row));
    for (let i = 0; i < answer.columns.length; i++) tr.appendChild(el("td", null, row.cells[i] ?? ""));
    const cell = el("td", "problems");
    for (const e of row.errors) cell.appendChild(el("div", null, (e.path ? e.path + ": " : "") + e.message));
    tr.appendChild(cell);
    body.appendChild(tr);
  }
  const good = answer.total - answer.with_errors;
  $("preview-summary").textContent = plural(answer.total, "row", "rows") + " in the file; " +
    (answer.with_errors ? plural(answer.with_errors, "row has", "rows have") + " problems and will not be imported. "
      : "no problems found. ") + "The first " + number.format(answer.rows.length) + " are shown.";
  $("confirm").textContent = "Import " + plural(good, "row", "rows");
  $("confirm").disabled = good === 0;
  $("confirm").dataset.import = answer.import;
  show("preview", true);
}

async function preview(event) {
  event.preventDefault();
  const form = event.target;
  const file = form.elements.file.files[0];
  for (const id of ["preview", "progress-box", "result"]) show(id, false);
  if (!file) { errors([], "Choose a CSV file."); return; }
  const max = Number(box.dataset.maxBytes);
  if (file.size > max) {
    errors([], "The file is too large: at most 4 MiB (" + number.format(max) + " bytes). Split it and import each part.");
    return;
  }
  errors([]);
  $("preview-button").disabled = true;
  const kind = encodeURIComponent(form.elements.kind.value);
  const answer = await call("/console/admin/records/" + kind + "/preview", {
    method: "POST", body: file, headers: { "Content-Type": "text/csv", "X-CSRF-Token": box.dataset.csrf },
  });
  $("preview-button").disabled = false;
  if (answer.status === 200) showPreview(answer.body);
  else errors(answer.body.problems, answer.body.error || "The file was refused.");
}

function showProgress(p) {
  const bar = $("import-progress");
  bar.max = Math.max(p.total, 1);
  bar.value = p.done;
  $("progress-text").textContent = number.format(p.done) + " of " + number.format(p.total) + " rows";
}

function showReport(p) {
  $("result-counts").textContent = "Import finished: " + number.format(p.created) + " created, " +
    number.format(p.updated) + " updated, " + number.format(p.unchanged) + " unchanged, " +
    plural(p.errors, "row", "rows") + " with errors.";
  const tbody = $("report-rows").tBodies[0];
  clear(tbody);
  for (const row of p.report || []) {
    for (const e of row.errors) {
      const tr = el("tr");
      tr.dataset.row = row.row;
      for (const text of [row.row, row.id, e.path, e.message]) tr.appendChild(el("td", null, text));
      tbody.appendChild(tr);
    }
  }
  const more = (p.report_total || 0) - (p.report || []).length;
  $("report-more").textContent = more > 0 ? "And " + plural(more, "more row", "more rows") + ": all are in the file." : "";
  show("report-more", more > 0);
  if (p.error_file) $("error-file").href = p.error_file;
  show("report", p.errors > 0);
  show("result", true);
}

async function follow(id) {
  const answer = await call("/console/admin/records/imports/" + encodeURIComponent(id));
  if (answer.status === 0) {
    $("progress-text").textContent = "Connection lost; still trying…";
  } else if (answer.status !== 200) {
    $("progress-text").textContent = answer.body.error || "The import cannot be followed.";
    return;
  } else {
    const p = answer.body;
    showProgress(p);
    if (p.state === "finished") { showReport(p); return; }
    if (p.state === "stopped") {
      $("progress-text").textContent = number.format(p.done) + " of " + number.format(p.total) +
        " rows, then the import stopped (the server restarted). The rows imported so far are kept: import the " +
        "file again to finish; rows already in are left unchanged.";
      return;
    }
  }
  setTimeout(() => follow(id), POLL_MS);
}

async function confirm() {
  const button = $("confirm");
  button.disabled = true;
  const answer = await call("/console/admin/records/imports/" + encodeURIComponent(button.dataset.import), {
    method: "POST", headers: { "X-CSRF-Token": box.dataset.csrf },
  });
  if (answer.status !== 202) {
    errors([], answer.body.error || "The import could not start.");
    button.disabled = false;
    return;
  }
  show("preview", false);
  showProgress(answer.body);
  show("progress-box", true);
  follow(answer.body.id);
}

if (box) {
  $("upload-form").addEventListener("submit", preview);
  $("confirm").addEventListener("click", confirm);
  $("cancel").addEventListener("click", () => { show("preview", false); $("upload-form").reset(); });
}
