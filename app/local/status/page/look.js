// The page's "look closer": a peer's lookup (GET /api/peer) and a test signal (POST /api/signal).
(function () {
  'use strict';
  var $ = window.sluiceDom.$;
  var text = window.sluiceDom.text;
  function clock(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : '-';
  }
  function ago(ms) {
    return ms ? ((Date.now() - ms) / 1000).toFixed(1) + ' s ago (' + clock(ms) + ')' : '-';
  }

  function row(table, k, v) {
    var tr = document.createElement('tr');
    var th = document.createElement('th');
    th.textContent = k;
    var td = document.createElement('td');
    td.textContent = String(v);
    td.setAttribute('data-field', k);
    tr.appendChild(th);
    tr.appendChild(td);
    table.appendChild(tr);
  }

  function renderPeer(p) {
    var box = $('peer-view');
    while (box.firstChild) box.removeChild(box.firstChild);
    var t = document.createElement('table');
    row(t, 'peer', p.id + (p.kind ? ' (' + p.kind + ')' : ''));
    row(t, 'presence', p.presence);
    row(t, 'server', p.server || '-');
    row(t, 'region', p.region);
    row(t, p.presence === 'away' ? 'away since' : 'online since', p.since ? clock(p.since) : '-');
    if (p.presence === 'away') row(t, 'addressable until', clock(p.awayUntil));
    if (p.fleet) {
      row(t, 'client state', p.fleet.state);
      row(t, 'partner', p.fleet.partner);
      row(t, 'reconnects', p.fleet.reconnects);
      row(t, 'signals sent / received', p.fleet.sent + ' / ' + p.fleet.received);
      row(t, 'last seen (last signal)', ago(p.fleet.lastSignalAt));
    } else {
      row(t, 'last seen', p.presence === 'online' ? 'now (attached)' : p.since ? ago(p.since) : 'not in presence');
    }
    box.appendChild(t);
    if (p.fleet && p.fleet.recent.length) {
      var ul = document.createElement('ul');
      ul.id = 'peer-recent';
      p.fleet.recent.forEach(function (n) {
        var li = document.createElement('li');
        li.textContent = clock(n.at) + ' ' + (n.dir === 'in' ? '<- from ' : '-> to ') + n.peer + ' ' + n.what;
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
  }

  function lookup() {
    var id = $('peer-id').value.trim();
    if (!id) return;
    fetch('/api/peer?id=' + encodeURIComponent(id))
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error + (j.expected ? ' (expected ' + j.expected + ')' : ''));
          renderPeer(j);
        });
      })
      .catch(function (e) {
        text('peer-view', 'lookup failed: ' + e.message);
      });
  }

  function describe(r) {
    var s = r.id + ' ' + r.from + ' -> ' + r.to + ': ' + r.result;
    if (r.answeredMs !== undefined) s += ' in ' + r.answeredMs + ' ms';
    if (r.arrivedMs !== undefined) s += ', arrived after ' + r.arrivedMs + ' ms';
    return s;
  }

  function sendTest() {
    var body = { from: $('signal-from').value.trim(), to: $('signal-to').value.trim() };
    $('signal').disabled = true;
    text('signal-result', 'sending...');
    fetch('/api/signal', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error + (j.expected ? ' (expected ' + j.expected + ')' : ''));
          text('signal-result', describe(j));
          $('signal-result').className = /^(delivered|stored|duplicate)$/.test(j.result) ? 'r-ok' : 'r-bad';
          $('signal-result').setAttribute('data-result', j.result);
        });
      })
      .catch(function (e) {
        text('signal-result', 'refused: ' + e.message);
        $('signal-result').className = 'r-bad';
      })
      .then(function () {
        $('signal').disabled = false;
      });
  }

  var lastIds = '';
  document.addEventListener('sluice:state', function (e) {
    var s = e.detail;
    var ids = (s.peerIds || []).join(',');
    if (ids !== lastIds) {
      lastIds = ids;
      var dl = $('peer-ids');
      while (dl.firstChild) dl.removeChild(dl.firstChild);
      (s.peerIds || []).forEach(function (id) {
        var o = document.createElement('option');
        o.value = id;
        dl.appendChild(o);
      });
    }
    text('tests', (s.tests || []).map(describe).join('\n'));
    $('tests').style.whiteSpace = 'pre-line';
  });
  $('lookup').addEventListener('click', lookup);
  $('peer-id').addEventListener('keydown', function (e) {
    if (e.key === 'Enter') lookup();
  });
  $('signal').addEventListener('click', sendTest);
})();
