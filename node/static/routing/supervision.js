// The supervision board: a "select all" box per unit (the page works without it).
(function () {
  "use strict";
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var group = document.getElementById(all.getAttribute("data-select-all"));
    if (!group) { return; }
    var label = all.closest("label");
    if (label) { label.hidden = false; }
    all.addEventListener("change", function () {
      group.querySelectorAll('input[type="checkbox"][name="case"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
})();
