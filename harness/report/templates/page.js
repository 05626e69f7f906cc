(function () {
  'use strict';
  // Samples arrive gzip-compressed and base64-encoded (a 50,000-sample run stays a few MB), as a
  // string table and rows of indices (harness/report/samples.py). Every text is written with
  // textContent: model output is adversarial and never becomes markup.
  function decode() {
    var node = document.getElementById('sample-data');
    if (node.dataset.encoding !== 'gzip+base64') return Promise.resolve(JSON.parse(node.textContent));
    var bin = atob(node.textContent.trim()), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }
  decode().then(start, function (err) {
    document.getElementById('count').textContent = 'the samples could not be read in this browser: ' + err;
  });

  function start(data) {
  var S = data.strings, R = data.rows, F = data.fields;
  var C = {};
  F.forEach(function (f, i) { C[f] = i; });
  var PAGE = 100, shown = PAGE, hits = [];
  var $ = function (id) { return document.getElementById(id); };
  var filters = {suite: $('f-suite'), stage: $('f-stage'), category: $('f-category'), judge: $('f-judge'), label: $('f-label')};
  var text = $('f-text'), body = document.querySelector('#samples tbody'), detail = $('detail');

  function el(tag, content, cls) {
    var e = document.createElement(tag);
    if (content !== undefined && content !== null) e.textContent = content;
    if (cls) e.className = cls;
    return e;
  }
  function cut(s, n) { return s.length > n ? s.slice(0, n - 1) + '\u2026' : s; }
  function val(row, f) { return S[row[C[f]]]; }

  Object.keys(filters).forEach(function (f) {
    var seen = {};
    R.forEach(function (r) { seen[r[C[f]]] = true; });
    Object.keys(seen).map(function (i) { return S[i]; }).sort().forEach(function (v) {
      var o = el('option', v); o.value = v; filters[f].appendChild(o);
    });
  });

  function readHash() {
    var p = new URLSearchParams(location.hash.slice(1));
    Object.keys(filters).forEach(function (f) { if (p.has(f)) filters[f].value = p.get(f); });
    if (p.has('q')) text.value = p.get('q');
    return p.has('open') ? parseInt(p.get('open'), 10) : null;
  }
  function writeHash(open) {
    var p = new URLSearchParams();
    Object.keys(filters).forEach(function (f) { if (filters[f].value) p.set(f, filters[f].value); });
    if (text.value) p.set('q', text.value);
    if (open !== null && open !== undefined) p.set('open', String(open));
    history.replaceState(null, '', '#' + p.toString());
  }

  function apply() {
    var want = [];
    Object.keys(filters).forEach(function (f) {
      if (filters[f].value) want.push([C[f], S.indexOf(filters[f].value)]);
    });
    var q = text.value.toLowerCase();
    hits = [];
    for (var i = 0; i < R.length; i++) {
      var r = R[i], ok = true;
      for (var w = 0; w < want.length && ok; w++) ok = r[want[w][0]] === want[w][1];
      if (ok && q) ok = (S[r[C.prompt]] + '\n' + S[r[C.response]]).toLowerCase().indexOf(q) >= 0;
      if (ok) hits.push(i);
    }
    shown = PAGE;
    render();
  }

  function badge(r) {
    var label = val(r, 'label'), b = el('span', label, 'badge b-' + label);
    var correct = r[C.correct];
    if (correct >= 0) b.textContent = label + (correct ? ' \u2713 correct' : ' \u2717 wrong');
    return b;
  }

  function render() {                // only the rows on the page exist in the DOM
    body.replaceChildren();
    hits.slice(0, shown).forEach(function (i) {
      var r = R[i], tr = el('tr');
      tr.dataset.row = String(i);
      ['suite', 'stage', 'category', 'judge'].forEach(function (f) { tr.appendChild(el('td', val(r, f))); });
      var v = el('td'); v.appendChild(badge(r)); tr.appendChild(v);
      tr.appendChild(el('td', cut(val(r, 'prompt'), 160)));
      tr.appendChild(el('td', cut(val(r, 'response'), 240)));
      tr.addEventListener('click', function () { open(i); });
      body.appendChild(tr);
    });
    $('count').textContent = Math.min(shown, hits.length) + ' of ' + hits.length + ' matching shown';
    $('more').hidden = shown >= hits.length;
  }

  // Word-level diff (longest common subsequence) of two answers, drawn as <del>/<ins> text nodes.
  function diff(a, b) {
    var x = a.match(/\S+\s*|\s+/g) || [], y = b.match(/\S+\s*|\s+/g) || [], box = el('pre', null, 'diff');
    if (x.length * y.length > 4e6) { box.textContent = b; return box; }
    var n = x.length, m = y.length, L = [];
    for (var i = 0; i <= n; i++) L.push(new Uint32Array(m + 1));
    for (i = n - 1; i >= 0; i--) for (var j = m - 1; j >= 0; j--)
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { box.appendChild(document.createTextNode(x[i])); i++; j++; }
      else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) { box.appendChild(el('ins', y[j])); j++; }
      else { box.appendChild(el('del', x[i])); i++; }
    }
    return box;
  }

  function open(i) {
    var r = R[i];
    detail.replaceChildren();
    detail.hidden = false;
    detail.appendChild(el('h3', val(r, 'suite') + ' \u00b7 ' + val(r, 'id') + ' \u00b7 ' + val(r, 'stage') + ' \u00b7 ' + val(r, 'judge')));
    detail.lastChild.appendChild(document.createTextNode(' '));
    detail.lastChild.appendChild(badge(r));
    [['prompt', 'Prompt'], ['response', 'Response'], ['raw', 'Judge output (raw)']].forEach(function (p) {
      detail.appendChild(el('h4', p[1]));
      detail.appendChild(el('pre', val(r, p[0])));
    });
    // The same prompt at every stage, by the same judge.
    var same = [];
    for (var k = 0; k < R.length; k++) {
      var o = R[k];
      if (o[C.suite] === r[C.suite] && o[C.id] === r[C.id] && o[C.judge] === r[C.judge]) same.push(k);
    }
    var rank = {};
    (data.stage_order || []).forEach(function (s, k) { rank[s] = k; });
    same.sort(function (a, b) { return (rank[val(R[a], 'stage')] || 0) - (rank[val(R[b], 'stage')] || 0); });
    if (same.length > 1) {
      detail.appendChild(el('h4', 'The same prompt at every stage (changes against this row\'s answer)'));
      var t = el('table'), head = el('tr');
      ['stage', 'verdict', 'response'].forEach(function (h) { head.appendChild(el('th', h)); });
      t.appendChild(head);
      same.forEach(function (k) {
        var o = R[k], tr = el('tr');
        tr.appendChild(el('td', val(o, 'stage')));
        var v = el('td'); v.appendChild(badge(o)); tr.appendChild(v);
        var cell = el('td');
        cell.appendChild(k === i ? el('pre', val(o, 'response')) : diff(val(r, 'response'), val(o, 'response')));
        tr.appendChild(cell);
        t.appendChild(tr);
      });
      detail.appendChild(t);
    }
    writeHash(i);
  }

  Object.keys(filters).forEach(function (f) {
    filters[f].addEventListener('change', function () { apply(); writeHash(null); });
  });
  var timer = null;
  text.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { apply(); writeHash(null); }, 150);
  });
  $('more').addEventListener('click', function () { shown += PAGE; render(); });
  document.querySelectorAll('a.goto').forEach(function (a) {
    a.addEventListener('click', function () {
      filters.suite.value = a.dataset.suite || '';
      filters.stage.value = a.dataset.stage || '';
      apply(); writeHash(null);
      $('browser').scrollIntoView();
    });
  });

  var first = readHash();
  apply();
  if (first !== null && R[first]) { open(first); detail.scrollIntoView(); }
  document.body.dataset.ready = '1';
  }
})();
