/* Beckon admin pages: copy the script tag, and keep the live visitor table fresh.
 * Visitor-supplied strings go into the page with textContent only. */
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
      } else {
        source.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies by hand */ }
      }
    });
  });

  var table = document.getElementById("visitors");
  if (!table) return;
  var body = table.querySelector("tbody");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(ms) {
    var d = new Date(ms);
    return d.toISOString().slice(11, 19);
  }

  function row(v) {
    var tr = el("tr", v.needs_assistance ? "needy" : "");
    var p = v.profile || {};
    var td = el("td");
    var a = el("a", null, p.name || p.email || v.visitor);
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
    (v.reasons || []).forEach(function (r) {
      var text = String(r.rule).replace(/_/g, " ") + (typeof r.value === "boolean" ? "" : " " + r.value);
      td.appendChild(el("span", "reason", text));
      td.appendChild(document.createTextNode(" "));
    });
    tr.appendChild(td);
    tr.appendChild(el("td", null, v.cart_value ? v.cart_value + " " + (v.currency || "") : ""));
    tr.appendChild(el("td", null, clock(v.last)));
    return tr;
  }

  function refresh() {
    fetch("/console/admin/visitors.json", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) { location.reload(); throw new Error("logged out"); }
        return r.json();
      })
      .then(function (data) {
        while (body.firstChild) body.removeChild(body.firstChild);
        var list = data.visitors || [];
        list.forEach(function (v) { body.appendChild(row(v)); });
        if (!list.length) {
          var tr = el("tr", "empty");
          var td = el("td", "muted", "No visitors right now.");
          td.colSpan = 6;
          tr.appendChild(td);
          body.appendChild(tr);
        }
        document.getElementById("visitor-count").textContent = String(list.length);
        document.getElementById("refreshed").textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { /* try again on the next tick */ });
  }

  setInterval(function () { if (!document.hidden) refresh(); }, 3000);
})();
