/* Materials page (an ES module): a document goes up as the raw body of a fetch() (the
 * console's forms are urlencoded and small), its fields in the query, the CSRF token in a
 * header. Each error is shown beside its field, as text. */
import { el, clear } from "./dom.js";

const form = document.getElementById("document-form");

function fieldOf(path) {
  const name = path.split("[")[0].replace(/^tags\./, "");
  return name === "content_type" || name === "filename" ? "file" : name;
}

function showErrors(errors, general) {
  form.querySelectorAll("ul.js-errors").forEach((ul) => ul.remove());
  const top = document.getElementById("document-errors");
  clear(top);
  top.hidden = true;
  for (const e of errors) {
    const input = form.querySelector(`[name="${fieldOf(e.field)}"]`);
    const box = input ? input.closest(".field") : null;
    const message = e.field ? e.field + ": " + e.message : e.message;
    if (box) {
      let ul = box.querySelector("ul.js-errors");
      if (!ul) { ul = el("ul", "field-errors js-errors"); ul.setAttribute("role", "alert"); box.appendChild(ul); }
      ul.appendChild(el("li", null, message));
    } else {
      top.appendChild(el("li", null, message));
      top.hidden = false;
    }
  }
  if (general && !errors.length) { top.appendChild(el("li", null, general)); top.hidden = false; }
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) { showErrors([{ field: "file", message: "choose a file" }]); return; }
    const params = new URLSearchParams();
    for (const input of form.querySelectorAll("input[name]:not([type=file])")) params.set(input.name, input.value);
    params.set("filename", file.name);
    let answer;
    try {
      const r = await fetch("/console/materials/document?" + params.toString(), {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": form.dataset.csrf },
      });
      answer = { status: r.status, body: await r.json().catch(() => ({})) };
    } catch (e) {
      showErrors([], "The upload did not get through; try again.");
      return;
    }
    if (answer.status === 201) { location.href = "/console/materials?saved=" + encodeURIComponent(answer.body.id); return; }
    showErrors(answer.body.errors || [], answer.body.error || "The upload was refused.");
  });
}
