// Small progressive enhancement for the desk; every page works without it.
(function () {
  "use strict";
  // A form button with data-confirm asks before it submits (the text says what will happen).
  document.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    var text = (button && button.getAttribute("data-confirm")) || ev.target.getAttribute("data-confirm");
    if (text && !window.confirm(text)) { ev.preventDefault(); }
  });
})();
