// Hover values on the chart: the mouse's time maps to the nearest sample of each series (the numbers
// the region pushed with the chart, state.chartData): peers offline, then the highest values, at most 12 lines.
(function () {
  'use strict';
  var $ = window.sluiceDom.$;
  var data = null;
  var MAX = 12;

  function pad(n) {
    return String(n).padStart(2, '0');
  }
  function when(x) {
    if (data.clockOrigin === undefined) return (x / 1000).toFixed(1) + ' s';
    var d = new Date(data.clockOrigin + x);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  // The value of a series at x: its last point at or before x (none before it started).
  function valueAt(points, x) {
    var lo = 0;
    var hi = points.length - 1;
    if (hi < 0 || points[0][0] > x) return null;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (points[mid][0] <= x) lo = mid;
      else hi = mid - 1;
    }
    return points[lo][1];
  }

  function hide() {
    $('hover').hidden = true;
    $('hover-line').hidden = true;
  }

  function show(ev) {
    var svg = $('chart').querySelector('svg');
    if (!svg || !data) return hide();
    var box = svg.getBoundingClientRect();
    var scale = box.width / Number(svg.getAttribute('width'));
    var left = Number(svg.getAttribute('data-left'));
    var pw = Number(svg.getAttribute('data-plot-width'));
    var x0 = Number(svg.getAttribute('data-x0'));
    var x1 = Number(svg.getAttribute('data-x1'));
    var px = (ev.clientX - box.left) / scale;
    if (px < left || px > left + pw) return hide();
    var x = x0 + ((px - left) / pw) * (x1 - x0);
    var rows = [];
    data.series.forEach(function (s, i) {
      var v = valueAt(s.points, x);
      if (v !== null) rows.push({ name: s.name, v: v, first: i === 0 });
    });
    // Peers offline (the first series) on top, as in the legend; then the highest values.
    rows.sort(function (a, b) {
      return Number(b.first) - Number(a.first) || b.v - a.v;
    });
    var lines = rows.slice(0, MAX).map(function (r) {
      return r.name + ': ' + r.v;
    });
    if (rows.length > MAX) lines.push('+ ' + (rows.length - MAX) + ' more');
    var tip = $('hover');
    tip.textContent = when(x) + '\n' + lines.join('\n');
    tip.hidden = false;
    var host = $('chart-box').getBoundingClientRect();
    var line = $('hover-line');
    line.hidden = false;
    line.style.left = ev.clientX - host.left + 'px';
    line.style.top = box.top - host.top + Number(svg.getAttribute('data-top')) * scale + 'px';
    line.style.height = Number(svg.getAttribute('data-plot-height')) * scale + 'px';
    tip.style.left = Math.min(ev.clientX - host.left + 12, host.width - tip.offsetWidth - 4) + 'px';
    tip.style.top = box.top - host.top + 30 + 'px';
  }

  var lastEvent = null;
  document.addEventListener('sluice:state', function (e) {
    data = e.detail.chartData || null;
    // The chart was just replaced: keep the tooltip on the new numbers under the mouse.
    if (lastEvent && !$('hover').hidden) show(lastEvent);
  });
  $('chart').addEventListener('mousemove', function (ev) {
    lastEvent = ev;
    show(ev);
  });
  $('chart').addEventListener('mouseleave', function () {
    lastEvent = null;
    hide();
  });
})();
