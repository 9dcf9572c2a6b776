// firmhook console: the only script. Asks before forms that message a
// client or remove something (data-confirm), and before a form whose
// fields are all empty, which clears a setting (data-confirm-empty).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  var empty = form.getAttribute("data-confirm-empty");
  if (empty) {
    var fields = form.querySelectorAll("input[type=text],input:not([type])");
    var blank = true;
    for (var i = 0; i < fields.length; i++) if (fields[i].value.trim()) blank = false;
    if (blank) question = empty;
  }
  if (question && !window.confirm(question)) event.preventDefault();
});
