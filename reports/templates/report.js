/* latentviz report: draws the embedded plotly figures, switches projections and colourings,
   and shows a sample's thumbnail when the pointer rests on its point. Reads only what the page
   embeds: no request leaves the page. */
(function () {
  "use strict";
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
  var figures = {}, colorOf = {}, sheetUrls = [], pending = 0;
  var tip = document.getElementById("thumb-tip");
  var scatter = {colors: readJSON("projection-colors"), thumbs: readJSON("projection-thumbs"), color: null};
  var select = document.getElementById("color-by");
  if (select) { scatter.color = select.value; }

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function figureOf(div) {
    if (!figures[div.id]) { figures[div.id] = readJSON(div.id + "-json"); colorOf[div.id] = div.dataset.color || null; }
    return figures[div.id];
  }

  function recolor(div) {
    var fig = figureOf(div), patch = scatter.colors && scatter.colors[scatter.color];
    if (!patch || colorOf[div.id] === scatter.color) { return fig; }
    var points = fig.data[0], old = points.marker;
    points.marker = {size: old.size, opacity: old.opacity, line: old.line};
    Object.keys(patch.marker).forEach(function (k) { points.marker[k] = patch.marker[k]; });
    points.text = patch.text;
    points.hovertemplate = "<b>%{customdata}</b><br>" + patch.name + ": %{text}<extra></extra>";
    var highlight = fig.data.filter(function (t) { return t.meta === "highlight"; });
    fig.data = [points].concat(JSON.parse(JSON.stringify(patch.legend)), highlight);
    fig.layout.legend = Object.assign({}, fig.layout.legend, {title: {text: patch.name}});
    colorOf[div.id] = scatter.color;
    return fig;
  }

  function draw(div) {
    if (div.dataset.drawn || div.offsetParent === null) { return; }
    var fig = div.dataset.scatter ? recolor(div) : figureOf(div);
    div.dataset.drawn = "pending";
    pending += 1;
    Plotly.newPlot(div, fig.data, fig.layout, CONFIG).then(function () {
      div.dataset.drawn = "yes";
      if (div.dataset.scatter) { attachThumbs(div); }
      pending -= 1;
      if (pending === 0) { document.body.dataset.ready = "yes"; }
    });
  }

  function drawVisible() { document.querySelectorAll(".plot").forEach(draw); }

  function sheetUrl(k) {
    if (!sheetUrls[k]) {
      var raw = atob(scatter.thumbs.sheets[k]), bytes = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
      sheetUrls[k] = URL.createObjectURL(new Blob([bytes], {type: "image/png"}));
    }
    return sheetUrls[k];
  }

  function hideTip() { tip.hidden = true; }

  function attachThumbs(div) {
    var t = scatter.thumbs;
    if (!t || !tip) { return; }
    div.on("plotly_hover", function (ev) {
      var pt = ev.points && ev.points[0];
      var cell = pt && pt.curveNumber === 0 ? t.index[pt.pointNumber] : -1;
      if (cell === undefined || cell < 0) { hideTip(); return; }
      var sheet = Math.floor(cell / t.per_sheet), c = cell % t.per_sheet;
      var size = t.cell * Math.max(1, Math.min(4, Math.round(112 / t.cell)));
      tip.style.width = size + "px";
      tip.style.height = size + "px";
      tip.style.backgroundImage = "url(" + sheetUrl(sheet) + ")";
      tip.style.backgroundSize = (t.columns * size) + "px auto";
      tip.style.backgroundPosition = (-(c % t.columns) * size) + "px " + (-Math.floor(c / t.columns) * size) + "px";
      var box = div.getBoundingClientRect(), e = ev.event || {};
      var x = e.clientX !== undefined ? e.clientX : box.right - size - 16;
      var y = e.clientY !== undefined ? e.clientY : box.top + 16;
      tip.style.left = (x + size + 40 > window.innerWidth ? x - size - 24 : x + 24) + "px";
      tip.style.top = Math.max(8, Math.min(window.innerHeight - size - 8, y - size / 2)) + "px";
      tip.dataset.point = String(pt.pointNumber);
      tip.hidden = false;
    });
    div.on("plotly_unhover", hideTip);
  }

  document.querySelectorAll("[data-tab]").forEach(function (button) {
    button.addEventListener("click", function () {
      var method = button.dataset.tab;
      document.querySelectorAll("[data-tab]").forEach(function (b) {
        b.setAttribute("aria-selected", String(b.dataset.tab === method));
      });
      document.querySelectorAll(".panel[data-method]").forEach(function (panel) {
        panel.hidden = panel.dataset.method !== method;
        panel.querySelectorAll(".plot").forEach(function (div) {
          if (!panel.hidden && div.dataset.drawn === "yes") { Plotly.Plots.resize(div); } else { draw(div); }
        });
      });
      hideTip();
    });
  });

  if (select) {
    select.addEventListener("change", function () {
      scatter.color = select.value;
      document.querySelectorAll(".plot[data-scatter]").forEach(function (div) {
        if (div.dataset.drawn !== "yes") { return; }
        var fig = recolor(div);
        Plotly.react(div, fig.data, fig.layout, CONFIG);
      });
    });
  }

  drawVisible();
  if (pending === 0) { document.body.dataset.ready = "yes"; }
})();
