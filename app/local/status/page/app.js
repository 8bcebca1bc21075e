// The status page's only script: render each state pushed over SSE; two buttons POST JSON.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var text = function (id, v) { $(id).textContent = String(v); };

  function render(s) {
    text('region', 'load balancer ' + s.lb + ' at ' + s.lbUrl + ', backplane ' + s.backplane +
      ', up ' + Math.round(s.uptimeMs / 1000) + ' s');
    var x = s.sample;
    if (x) {
      text('peers-online', x.online); text('peers-away', x.away); text('peers-offline', x.offline);
      text('signals-per-sec', x.signalsPerSec); text('latency-p50', x.latencyP50Ms); text('latency-p99', x.latencyP99Ms);
      $('peers-offline').className = x.offline > 0 ? 'bad' : '';
      var body = $('servers').tBodies[0];
      while (body.firstChild) body.removeChild(body.firstChild);
      var select = $('break-server');
      var chosen = select.value;
      while (select.firstChild) select.removeChild(select.firstChild);
      x.servers.forEach(function (v) {
        var tr = document.createElement('tr');
        tr.setAttribute('data-server', v.id);
        [v.id, (s.releases && s.releases[v.id]) || '-', v.state, v.connections, v.drainTotal ? v.drainClosed + ' / ' + v.drainTotal : '-', v.drainReset]
          .forEach(function (c, i) {
            var td = document.createElement('td');
            td.textContent = String(c);
            td.className = ['id', 'release', 'state state-' + v.state, 'connections', 'drain', 'reset'][i];
            tr.appendChild(td);
          });
        body.appendChild(tr);
        var o = document.createElement('option');
        o.value = v.id; o.textContent = v.id;
        select.appendChild(o);
      });
      if (chosen) select.value = chosen;
    }
    if (s.fleet) {
      text('ever-offline', s.fleet.everOffline); text('lost', s.fleet.lost); text('duplicated', s.fleet.duplicated);
      $('ever-offline').className = s.fleet.everOffline > 0 ? 'bad' : '';
    }
    text('rollout-state', s.rolling ? 'rolling out: step ' + s.rolling.step + ' of ' + s.rolling.of + ' (' + (s.rolling.current || '') + ')' : 'idle');
    $('rollout').disabled = !!s.rolling;
    // The controller's own output: the plan, each step's gates, a halt with its rollback.
    text('rollout-output', s.rollout ? s.rollout.release + ': ' + s.rollout.status + '\n' + s.rollout.lines.join('\n') : '');
    // The chart is SVG rendered by the region from numbers and validated server ids (escaped).
    $('chart').innerHTML = s.chart;
    text('log', s.log.join('\n'));
    document.body.setAttribute('data-updated', String(x ? x.t : 0));
  }

  function post(path, body) {
    return fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; }); })
      .catch(function (e) { text('rollout-state', 'error: ' + e.message); });
  }

  $('rollout').addEventListener('click', function () { $('rollout').disabled = true; post('/api/rollout', { release: $('release').value }); });
  $('break').addEventListener('click', function () {
    post('/api/break', { mode: $('break-mode').value, server: $('break-server').value });
  });

  var es = new EventSource('/api/events');
  es.addEventListener('state', function (e) { render(JSON.parse(e.data)); });
  es.onerror = function () { text('region', 'disconnected from the region (stopped?)'); };
})();
