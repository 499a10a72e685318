// Administration pages: a "copy" button beside a token shown once. The page works without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var field = document.getElementById("new-token");
    if (!field || !navigator.clipboard) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.id = "copy-token";
    button.textContent = field.getAttribute("data-copy-label") || "Copy";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = field.getAttribute("data-copied-label") || "Copied";
      });
    });
    field.parentNode.appendChild(button);
    field.addEventListener("focus", function () { field.select(); });
  });
})();
