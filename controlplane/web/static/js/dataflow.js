// The data-flow diagram: pointing at (or focusing) a flow's arrow, its number, a node or
// a row of the flows table highlights the flows involved and fades the others.
(function () {
  "use strict";

  function figure() { return document.querySelector(".dataflow-figure svg"); }

  function clear() {
    var svg = figure();
    if (!svg) { return; }
    svg.classList.remove("has-hot");
    document.querySelectorAll(".is-hot").forEach(function (e) { e.classList.remove("is-hot"); });
  }

  function highlight(flows) {
    var svg = figure();
    if (!svg || !flows.length) { return; }
    clear();
    svg.classList.add("has-hot");
    flows.forEach(function (number) {
      document.querySelectorAll('[data-flow="' + number + '"]').forEach(function (e) {
        e.classList.add("is-hot");
        ["source", "target"].forEach(function (end) {
          var id = e.getAttribute("data-" + end);
          if (!id) { return; }
          svg.querySelectorAll("[data-node]").forEach(function (node) {
            if (node.getAttribute("data-node") === id) { node.classList.add("is-hot"); }
          });
        });
      });
    });
  }

  function flowsOf(target) {
    var flow = target.closest("[data-flow]");
    if (flow) { return [flow.getAttribute("data-flow")]; }
    var node = target.closest("[data-node]");
    if (!node) { return []; }
    var id = node.getAttribute("data-node");
    var found = [];
    figure().querySelectorAll("path[data-flow]").forEach(function (path) {
      if (path.getAttribute("data-source") === id || path.getAttribute("data-target") === id) {
        found.push(path.getAttribute("data-flow"));
      }
    });
    return found;
  }

  function onPoint(event) {
    if (!(event.target instanceof Element)) { return; }
    var flows = flowsOf(event.target);
    if (flows.length) { highlight(flows); } else if (event.type !== "focusin") { clear(); }
  }

  document.addEventListener("mouseover", onPoint);
  document.addEventListener("focusin", onPoint);
  document.addEventListener("focusout", clear);
})();
