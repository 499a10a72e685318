// The public form's helpers; the form works without them (issue 12 item 1).
// * the respondent look-up: typing a name or USCC offers known firms; picking one fills the
//   USCC and the region;
// * "send code" asks for the SMS code without leaving the page.
(function () {
  "use strict";
  var name = document.querySelector("[data-firm-lookup]");
  var list = document.getElementById("firm-list");
  var uscc = document.getElementById("f-respondent-uscc");
  var region = document.getElementById("f-respondent-region_code");
  var found = {};
  var timer = null;
  function fill(firm) {
    if (uscc && firm.uscc) { uscc.value = firm.uscc; }
    if (region && firm.region_code) { region.value = firm.region_code; }
  }
  function lookup(q) {
    fetch(name.getAttribute("data-firm-lookup") + "?q=" + encodeURIComponent(q), {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (data) {
        found = {};
        list.textContent = "";
        data.items.forEach(function (firm) {
          found[firm.name] = firm;
          var opt = document.createElement("option");
          opt.value = firm.name;
          opt.label = firm.uscc;
          list.appendChild(opt);
        });
        if (found[name.value]) { fill(found[name.value]); }
      })
      .catch(function () { /* the look-up is a convenience: typing by hand still works */ });
  }
  if (name && list) {
    name.addEventListener("input", function () {
      if (found[name.value]) { fill(found[name.value]); return; }
      clearTimeout(timer);
      if (name.value.trim().length >= 2) { timer = setTimeout(function () { lookup(name.value.trim()); }, 250); }
    });
  }
  var send = document.getElementById("send-code");
  var form = document.getElementById("public-form");
  if (send && form && window.fetch && window.FormData) {
    send.addEventListener("click", function (ev) {
      ev.preventDefault();
      var data = new FormData();
      data.append("csrf_token", form.querySelector("[name=csrf_token]").value);
      data.append("phone", form.querySelector("[name='complainant.phone']").value);
      data.append("purpose", "submit");
      send.disabled = true;
      fetch("/public/phone-code", {method: "POST", body: data, headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (body) {
          var note = document.getElementById("code-note");
          if (!note) {
            note = document.createElement("p");
            note.id = "code-note";
            note.setAttribute("role", "status");
            send.parentNode.parentNode.appendChild(note);
          }
          note.className = body.error ? "field-error" : "notice";
          note.textContent = body.error ? body.error.message : body.message;
          setTimeout(function () { send.disabled = false; }, body.error ? 1000 : 60000);
        })
        .catch(function () { send.disabled = false; });
    });
  }
})();
