// The intake form's progressive enhancement (issue 11 item 3). Without it the form still works:
// the region is typed as a code, the USCC is checked by the server, the preview is a button.
(function () {
  "use strict";
  var form = document.getElementById("intake-form");
  if (!form) { return; }

  // -- USCC check character, GB 32100-2015 (a port of node/cases/uscc.py; the server decides) --
  var CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  function usccProblem(code, status) {
    var i, total = 0;
    for (i = 0; i < code.length; i++) {
      if (CHARSET.indexOf(code.charAt(i)) < 0) {
        return status.getAttribute("data-char").replace("{pos}", String(i + 1));
      }
    }
    if (code.length !== 18) { return status.getAttribute("data-length").replace("{n}", String(code.length)); }
    for (i = 0; i < 17; i++) { total += CHARSET.indexOf(code.charAt(i)) * WEIGHTS[i]; }
    var expected = CHARSET.charAt((31 - total % 31) % 31);
    if (code.charAt(17) !== expected) { return status.getAttribute("data-bad").replace("{expected}", expected); }
    return "";
  }
  var uscc = document.getElementById("f-respondent-uscc");
  var usccStatus = document.getElementById("uscc-status");
  function checkUscc() {
    var code = uscc.value.trim().toUpperCase();
    if (!code) { usccStatus.textContent = ""; usccStatus.className = "hint uscc-status"; return; }
    var problem = usccProblem(code, usccStatus);
    usccStatus.textContent = problem || usccStatus.getAttribute("data-ok");
    usccStatus.className = "hint uscc-status " + (problem ? "bad" : "ok");
  }
  if (uscc && usccStatus) { uscc.addEventListener("input", checkUscc); checkUscc(); }

  // -- the fields that apply to one kind only -----------------------------------------------------
  var kind = document.getElementById("f-kind");
  function showFor(id, kinds) {
    var el = document.getElementById(id);
    if (el) { el.hidden = kinds.indexOf(kind.value) < 0; }
  }
  function byKind() {
    showFor("w-report_target", ["report"]);
    showFor("w-also_report", ["complaint"]);
    showFor("w-complainant-anonymous", ["report", "consultation"]);
  }
  if (kind) { kind.addEventListener("change", byKind); byKind(); }

  // -- region: province -> prefecture -> county, from the division table -------------------------
  var cascade = document.getElementById("region-cascade");
  var code = document.getElementById("f-respondent-region_code");
  var nameOut = document.getElementById("region-name");
  var selects = [0, 1, 2].map(function (i) { return document.getElementById("region-level-" + i); });
  var endpoint = cascade ? cascade.getAttribute("data-endpoint") : "";

  function fetchDivision(value) {
    return fetch(endpoint + encodeURIComponent(value), {credentials: "same-origin",
      headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    });
  }
  function fill(select, children, chosen) {
    while (select.options.length > 1) { select.remove(1); }
    children.forEach(function (c) {
      var opt = document.createElement("option");
      opt.value = c.code; opt.textContent = c.name;
      if (c.code === chosen) { opt.selected = true; }
      select.appendChild(opt);
    });
    select.disabled = children.length === 0;
  }
  function chooseLevel(level) {
    var value = selects[level].value;
    if (!value && level > 0) { value = selects[level - 1].value; }
    code.value = value;
    for (var i = level + 1; i < 3; i++) { fill(selects[i], [], ""); }
    if (!value) { nameOut.textContent = ""; return; }
    fetchDivision(value).then(function (info) {
      // Typing a name into a select changes it several times in a row (广 → 广西 → 广东); an
      // answer for a code that is no longer chosen must not fill the next level.
      if (code.value !== value) { return; }
      nameOut.textContent = info.full_name;
      if (level < 2 && selects[level].value) { fill(selects[level + 1], info.children, ""); }
    }).catch(function () { if (code.value === value) { nameOut.textContent = ""; } });
  }
  function typedCode() {
    var value = code.value.trim();
    if (!/^[0-9]{6}$/.test(value)) { nameOut.textContent = ""; return; }
    fetchDivision(value).then(function (info) {
      if (code.value.trim() !== value) { return; }   // typed on since: a later answer fills it
      nameOut.textContent = info.full_name;
      var chain = info.chain || [];
      var steps = [fetchDivision("000000")].concat(chain.slice(0, 2).map(fetchDivision));
      return Promise.all(steps).then(function (levels) {
        for (var i = 0; i < 3; i++) {
          fill(selects[i], i < levels.length ? levels[i].children : [], chain[i] || "");
        }
      });
    }).catch(function () { nameOut.textContent = cascade.getAttribute("data-unknown"); });
  }
  if (cascade && code && selects.every(Boolean)) {
    document.getElementById("region-selects").hidden = false;
    selects.forEach(function (select, level) {
      select.addEventListener("change", function () { chooseLevel(level); });
      if (level > 0 && select.options.length <= 1) { select.disabled = true; }
    });
    code.addEventListener("change", typedCode);
  }
})();
