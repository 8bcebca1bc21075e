// The status page's main script: render each state pushed over SSE; the rollout and break controls POST JSON.
(function () {
  'use strict';
  var $ = window.sluiceDom.$;
  var text = window.sluiceDom.text;

  function render(s) {
    text(
      'region',
      'load balancer ' + s.lb + ' at ' + s.lbUrl + ', backplane ' + s.backplane + ', up ' + Math.round(s.uptimeMs / 1000) + ' s',
    );
    var x = s.sample;
    if (x) {
      text('peers-online', x.online);
      text('peers-away', x.away);
      text('peers-offline', x.offline);
      text('signals-per-sec', x.signalsPerSec);
      text('latency-p50', x.latencyP50Ms);
      text('latency-p99', x.latencyP99Ms);
      $('peers-offline').className = x.offline > 0 ? 'bad' : '';
    }
    renderServers(s.servers || []);
    // Several regions (docs/regions.md): every region, its capacity and the signals its servers sent across.
    if (s.regions) {
      $('regions').hidden = false;
      text(
        'regions',
        'regions: ' +
          s.regions
            .map(function (r) {
              return (
                r.name +
                (r.name === s.region ? ' (this page)' : '') +
                ' capacity ' +
                r.capacity +
                ', servers ' +
                (r.servers.join(', ') || 'none') +
                ', cross-region signals ' +
                r.crossRegion
              );
            })
            .join('; '),
      );
    }
    if (s.fleet) {
      text('ever-offline', s.fleet.everOffline);
      text('lost', s.fleet.lost);
      text('duplicated', s.fleet.duplicated);
      $('ever-offline').className = s.fleet.everOffline > 0 ? 'bad' : '';
    }
    var last = s.rollout;
    var halted = !s.rolling && last && last.status === 'halted' && last.halt;
    text(
      'rollout-state',
      s.rolling
        ? 'rolling out: server ' +
            s.rolling.step +
            ' of ' +
            s.rolling.of +
            (s.rolling.current ? ' (replacing ' + s.rolling.current + ')' : '')
        : halted
          ? 'HALTED: rollout of ' + last.release + ' stopped at step ' + last.halt.step + ' (' + last.halt.wave + ')'
          : last && last.status === 'failed'
            ? 'idle (the last rollout failed: ' + last.error + ')'
            : 'idle',
    );
    $('rollout-state').className = halted || (last && last.status === 'failed' && !s.rolling) ? 'halted' : '';
    $('rollout').disabled = !!s.rolling;
    renderHalt(halted ? last : null, !!s.rolling);
    // The controller's own output: the plan, each step's gates, a halt with its rollback.
    text('rollout-output', last ? last.release + ': ' + last.status + '\n' + last.lines.join('\n') : '');
    renderHistory(s.rollouts || []);
    // The chart is SVG rendered by the region from numbers and validated server ids (escaped).
    $('chart').innerHTML = s.chart;
    text('log', s.log.join('\n'));
    document.body.setAttribute('data-updated', String(x ? x.t : 0));
    // The other scripts (chart-hover.js, look.js) render their parts from the same state.
    document.dispatchEvent(new CustomEvent('sluice:state', { detail: s }));
  }

  function stateText(v) {
    // Its own count drops as its idle limit closes its ends; what its network still holds stays half-open.
    if (v.state === 'silent') return v.held > 0 ? 'silent (' + v.held + ' held half-open)' : 'silent (none held)';
    if (v.state === 'deleted') return v.healedBy ? 'deleted, replaced by ' + v.healedBy : 'deleted at ' + clock(v.deletedAt);
    if (v.state === 'replacing') return 'deleted, being replaced';
    return v.state;
  }

  // One row per server, live ones then deleted ones (until healed), each with its region.
  function renderServers(rows) {
    var body = $('servers').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (v) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-server', v.id);
      tr.setAttribute('data-region', v.region);
      if (v.state === 'deleted' || v.state === 'replacing') tr.className = 'deleted';
      [
        v.id,
        v.region,
        v.release,
        stateText(v),
        v.connections,
        v.drainTotal ? v.drainClosed + ' / ' + v.drainTotal : '-',
        v.drainReset,
      ].forEach(function (c, i) {
        var td = document.createElement('td');
        td.textContent = String(c);
        td.className = ['id', 'region', 'release', 'state state-' + v.state, 'connections', 'drain', 'reset'][i];
        if (i === 3) td.setAttribute('data-state', v.state);
        tr.appendChild(td);
      });
      var act = document.createElement('td');
      if (v.actions.indexOf('heal') >= 0) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'heal';
        b.textContent = 'heal';
        b.title = 'replace ' + v.id + ' with a new server on ' + v.release;
        b.addEventListener('click', function () {
          b.disabled = true;
          breakPost('heal', v.id);
        });
        act.appendChild(b);
      }
      tr.appendChild(act);
      body.appendChild(tr);
    });
    syncServerPicker(rows);
  }

  // The break menu's server list: rebuilt only when the servers change, so the user's choice (and
  // an open drop-down) survives every refresh; a chosen server that is gone falls back to the first.
  function syncServerPicker(rows) {
    var select = $('break-server');
    var ids = rows
      .filter(function (v) {
        return v.actions.length > 0;
      })
      .map(function (v) {
        return v.id;
      });
    var have = Array.prototype.map.call(select.options, function (o) {
      return o.value;
    });
    if (have.join(',') === ids.join(',')) return;
    var chosen = select.value;
    while (select.firstChild) select.removeChild(select.firstChild);
    ids.forEach(function (id) {
      var o = document.createElement('option');
      o.value = id;
      o.textContent = id;
      select.appendChild(o);
    });
    if (ids.indexOf(chosen) >= 0) select.value = chosen;
  }

  function breakPost(mode, server) {
    text('break-result', mode + ' ' + server + '...');
    return fetch('/api/break', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ mode: mode, server: server }),
    })
      .then(function (r) {
        return r.json().then(function (j) {
          text(
            'break-result',
            r.ok
              ? mode + ' ' + server + ': accepted'
              : 'refused: ' + j.error + (j.expected ? ' (expected ' + JSON.stringify(j.expected) + ')' : ''),
          );
        });
      })
      .catch(function (e) {
        text('break-result', 'error: ' + e.message);
      });
  }

  // A halt is a state: the failing gates with their numbers and the way back, until the next rollout.
  function renderHalt(r, rolling) {
    $('halt').hidden = !r;
    if (!r) return;
    var h = r.halt;
    text('halt-title', 'Rollout of ' + r.release + ' HALTED at step ' + h.step + ' (' + h.wave + '): ' + h.title);
    var ul = $('halt-gates');
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    h.failed.forEach(function (g) {
      var li = document.createElement('li');
      li.textContent = g.gate + ': ' + g.observed + ' (threshold ' + g.threshold + ')';
      li.setAttribute('data-gate', g.gate);
      ul.appendChild(li);
    });
    text('halt-error', h.error ? 'error: ' + h.error : '');
    $('rollback-box').hidden = !h.rollback;
    if (h.rollback) {
      text('rollback', 'roll back to ' + h.rollback.release);
      $('rollback').setAttribute('data-release', h.rollback.release);
      $('rollback').disabled = rolling;
      text(
        'rollback-what',
        'replaces ' +
          h.rollback.replace.join(', ') +
          ' (' +
          r.release +
          ') with servers on ' +
          h.rollback.release +
          ', gated like any rollout; or:',
      );
      text('rollback-command', h.rollback.command);
    }
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }
  function took(a, b) {
    return b ? ((b - a) / 1000).toFixed(1) + ' s' : '...';
  }

  function renderHistory(list) {
    var body = $('history').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    list.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-rollout', r.id);
      var steps = document.createElement('td');
      steps.className = 'gates';
      r.steps.forEach(function (st) {
        var d = document.createElement('div');
        d.textContent =
          'step ' + st.index + ' ' + st.wave + ' (' + st.servers.join(', ') + '): ' + st.status + ', ' + took(st.startedAt, st.finishedAt);
        steps.appendChild(d);
        st.gates.forEach(function (g) {
          var gd = document.createElement('div');
          gd.className = 'v-' + g.verdict.replace('/', '');
          gd.textContent = '  [' + g.verdict + '] ' + g.gate + ': ' + g.observed;
          gd.title = 'threshold ' + g.threshold;
          steps.appendChild(gd);
        });
      });
      [r.id, r.release, r.status, clock(r.startedAt), took(r.startedAt, r.finishedAt)].forEach(function (c, i) {
        var td = document.createElement('td');
        td.textContent = String(c);
        if (i === 2) td.className = r.status === 'halted' || r.status === 'failed' ? 'v-fail' : r.status === 'done' ? 'v-pass' : '';
        tr.appendChild(td);
      });
      tr.appendChild(steps);
      body.appendChild(tr);
    });
  }

  function post(path, body) {
    return fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error || r.status);
          return j;
        });
      })
      .catch(function (e) {
        text('rollout-state', 'error: ' + e.message);
      });
  }

  $('rollout').addEventListener('click', function () {
    $('rollout').disabled = true;
    post('/api/rollout', { release: $('release').value });
  });
  $('rollback').addEventListener('click', function () {
    $('rollback').disabled = true;
    post('/api/rollout', { release: $('rollback').getAttribute('data-release') });
  });
  $('break').addEventListener('click', function () {
    breakPost($('break-mode').value, $('break-server').value);
  });

  var es = new EventSource('/api/events');
  es.addEventListener('state', function (e) {
    render(JSON.parse(e.data));
  });
  es.onerror = function () {
    text('region', 'disconnected from the region (stopped?)');
  };
})();
