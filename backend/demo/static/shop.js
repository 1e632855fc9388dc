// The demo shop's own script: a cart kept in localStorage, reported to Beckon.
(function () {
  "use strict";
  function load() { try { return JSON.parse(localStorage.getItem("demo.cart") || "[]"); } catch (e) { return []; } }
  function save(lines) { localStorage.setItem("demo.cart", JSON.stringify(lines)); render(); report(); }
  function total(lines) { return lines.reduce(function (s, l) { return s + l.price; }, 0); }
  function report() {
    window.Beckon = window.Beckon || { q: [] };
    var t = Math.round(total(load()) * 100) / 100;
    if (typeof window.Beckon.cart === "function") window.Beckon.cart(t, "EUR");
    else window.Beckon.q.push(["cart", t, "EUR"]);
  }
  function render() {
    var lines = load();
    var count = document.getElementById("cart-count");
    if (count) count.textContent = String(lines.length);
    var tot = document.getElementById("cart-total");
    if (tot) tot.textContent = total(lines).toFixed(2);
    var list = document.getElementById("cart-lines");
    if (list) {
      list.textContent = "";
      lines.forEach(function (l) { var li = document.createElement("li"); li.textContent = l.id + " €" + l.price.toFixed(2); list.appendChild(li); });
    }
  }
  document.addEventListener("click", function (e) {
    var add = e.target.closest && e.target.closest("button.add");
    if (add) { var lines = load(); lines.push({ id: add.dataset.product, price: parseFloat(add.dataset.price) }); save(lines); }
    if (e.target.id === "cart-clear") save([]);
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id === "checkout-form") { e.preventDefault(); e.target.textContent = "Thank you for your order (demo: nothing was charged)."; save([]); }
  });
  document.addEventListener("DOMContentLoaded", function () { render(); if (load().length) report(); });
})();
