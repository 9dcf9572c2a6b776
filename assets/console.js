// firmhook console: the only script. Asks before forms that message a
// client or remove something, and applies a filter as soon as it changes.
"use strict";
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("change", function (event) {
  if (event.target.hasAttribute("data-autosubmit")) event.target.form.submit();
});
