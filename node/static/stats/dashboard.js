// 数据看板 (/desk/stats): draws the charts with the vendored Apache ECharts from the figures of
// GET /desk/stats/data (the same parameters as the page). The page is complete without this
// script: every chart's figures are in the table under it; once a chart is drawn its table is
// folded into its "Table" toggle (still there for screen readers and keyboards). No text is
// written here: every label comes translated in the JSON.
(function () {
  "use strict";
  var root = document.getElementById("stats-dashboard");
  if (!root || !window.echarts || !window.fetch) { return; }
  var echarts = window.echarts;
  var TOP = 15;
  var PALETTE = ["#0b5cad", "#b3121c", "#1f7a3a", "#a86200", "#6a3d9a", "#00838f", "#c2185b", "#5d6d7e",
                 "#7cb342", "#f57c00"];
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var charts = [];

  function box(key) { return root.querySelector('[data-chart="' + key + '"]'); }

  function draw(key, option) {
    var el = box(key);
    if (!el) { return; }
    el.hidden = false;
    var chart = echarts.init(el, null, { renderer: "canvas" });
    option.color = PALETTE;
    option.animation = !still;
    // rich-text tooltips: no HTML with style attributes (the Content-Security-Policy)
    option.tooltip = Object.assign({ renderMode: "richText", confine: true }, option.tooltip || {});
    chart.setOption(option);
    charts.push(chart);
    var table = el.nextElementSibling;
    if (table && table.tagName === "DETAILS") { table.open = false; }
  }

  function top(items, n, others) {
    if (items.length <= n) { return items.slice(); }
    var head = items.slice(0, n);
    var rest = 0;
    items.slice(n).forEach(function (it) { rest += it.cases; });
    head.push({ code: "", name: others, cases: rest });
    return head;
  }

  // a horizontal bar chart, largest first, names on the left
  function bars(names, series, extra) {
    var option = {
      grid: { left: 8, right: 24, top: series.length > 1 ? 32 : 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: names,
               axisLabel: { width: 150, overflow: "truncate" } },
      series: series
    };
    if (series.length > 1) { option.legend = { top: 0 }; }
    return Object.assign(option, extra || {});
  }

  function byField(data, key) {
    var items = top(data.series[key] || [], TOP, data.labels.others);
    if (!items.length) { return; }
    draw(key, bars(items.map(function (it) { return it.name; }),
                   [{ type: "bar", name: data.labels.cases, data: items.map(function (it) { return it.cases; }),
                      label: { show: true, position: "right" } }]));
  }

  function render(data) {
    var L = data.labels;
    var days = data.trend.days;
    var trend = {
      grid: { left: 8, right: 24, top: 16, bottom: days.length > 62 ? 56 : 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: days, boundaryGap: false },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "line", name: L.cases, data: data.trend.cases, areaStyle: { opacity: 0.15 },
                 showSymbol: days.length <= 62 }]
    };
    if (days.length > 62) { trend.dataZoom = [{ type: "inside" }, { type: "slider", bottom: 8 }]; }
    draw("trend", trend);

    byField(data, "category");
    byField(data, "channel");
    byField(data, "region");
    var kinds = data.series.kind || [];
    if (kinds.length) {
      draw("kind", {
        tooltip: { trigger: "item" },
        legend: { bottom: 0 },
        series: [{ type: "pie", name: L.cases, radius: ["35%", "65%"], center: ["50%", "45%"],
                   label: { formatter: "{b}: {c}" },
                   data: kinds.map(function (it) { return { name: it.name, value: it.cases }; }) }]
      });
    }

    if (data.units.length) {
      draw("units", bars(data.units.map(function (u) { return u.rank + ". " + u.name; }),
        [{ type: "bar", name: L.score,
           data: data.units.map(function (u) { return u.score === null ? null : Math.round(u.score * 1000) / 10; }),
           label: { show: true, position: "right", formatter: "{c}%" } }],
        { xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } } }));
    }

    var surges = data.hotspots.surges.slice(0, 10);
    if (surges.length) {
      draw("hotspots", bars(surges.map(function (h) { return h.name; }), [
        { type: "bar", name: L.this_week, data: surges.map(function (h) { return h.this_week; }) },
        { type: "bar", name: L.last_week, data: surges.map(function (h) { return h.last_week; }) }
      ]));
    }
    var firms = data.hotspots.top_firms.slice(0, 10);
    if (firms.length) {
      draw("firms", bars(firms.map(function (f) { return f.name; }),
        [{ type: "bar", name: L.this_week, data: firms.map(function (f) { return f.cases; }),
           label: { show: true, position: "right" } }]));
    }
  }

  var pending = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 120);
  });

  window.fetch(root.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    })
    .then(render)
    .catch(function () { /* the tables stay open: the page is complete without the charts */ });
})();
