// The newsletter form's own validation: checkValidity() in the submit handler, aria-invalid
// on each field it finds wanting (the way many sites validate without the browser's bubbles).
(function () {
  "use strict";
  var form = document.getElementById("newsletter-form");
  if (!form) return;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var ok = form.checkValidity();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.willValidate) el.setAttribute("aria-invalid", String(!el.validity.valid));
    });
    document.getElementById("newsletter-status").textContent = ok ? "Thank you for signing up." : "Please check the marked fields.";
  });
})();
