// Dashboard charts: plotly, drawn from <script type="application/json"> data blocks
// (the CSP allows no inline script) and drawn again after htmx refreshes a panel.
// A chart is <div class="chart" data-chart="ID"> next to the data block with that id:
// {"x": [bucket starts], "links": [each bucket's traces URL], "traces": [...plotly traces
//  without x...], "range": [from, to], "axis": {"title", "tickformat", "hoverformat",
//  "prefix"}} (the unit, from dashboard_views). Every trace gets x, and links as customdata.
(function () {
  "use strict";

  var LAYOUT = {
    margin: { l: 64, r: 16, t: 8, b: 36 },
    height: 240,
    barmode: "overlay",
    showlegend: true,
    legend: { orientation: "h", y: -0.2 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12 },
    xaxis: { type: "date", fixedrange: true },
    yaxis: { rangemode: "tozero", fixedrange: true, tickformat: "~s" },
    hovermode: "x unified"
  };
  var CONFIG = { displayModeBar: false, responsive: true };
  var COLOURS = ["#0b5cad", "#b42318", "#7c4dcc", "#1a7f37"];

  function draw(element) {
    if (!window.Plotly) { return; }
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) { return; }
    var data;
    try { data = JSON.parse(source.textContent); } catch (e) { return; }
    var axis = data.axis || { title: "", tickformat: "~s", hoverformat: ",", prefix: "" };
    var traces = (data.traces || []).map(function (trace, index) {
      var copy = Object.assign({ x: data.x, customdata: data.links }, trace);
      copy.marker = { color: COLOURS[index % COLOURS.length] };
      if (copy.type === "scatter") { copy.line = { color: COLOURS[index % COLOURS.length], width: 2 }; }
      copy.hovertemplate = axis.prefix + "%{y:" + axis.hoverformat + "}" +
        (axis.prefix ? "" : " " + axis.title);
      return copy;
    });
    var layout = Object.assign({}, LAYOUT, {
      xaxis: Object.assign({}, LAYOUT.xaxis, { range: data.range }),
      yaxis: Object.assign({}, LAYOUT.yaxis, {
        tickformat: axis.tickformat,
        tickprefix: axis.prefix,
        title: { text: axis.title, standoff: 4 }
      })
    });
    window.Plotly.react(element, traces, layout, CONFIG);
    if (!element.dataset.clickBound) {
      element.dataset.clickBound = "1";
      element.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        if (point && typeof point.customdata === "string" && point.customdata.charAt(0) === "/") {
          window.location.assign(point.customdata);
        }
      });
    }
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".chart[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
