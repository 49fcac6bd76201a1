// tsconverge dashboard. The pages work without this file (the filter forms are GET forms
// answered by the server); this only
// - re-applies the overview's filter to the rows in the page on every keystroke or choice,
//   keeping the address in step (so a reload, a shared link or a refresh shows the same view);
// - refreshes the overview and the recent changes in place every `data-refresh` seconds
//   (`?refresh=N`): the page at the current address (filters included) is fetched, and only
//   its live parts are swapped, so the filter form, its focus and what is typed stay.
'use strict';
(function () {
  document.documentElement.classList.add('js');
  var form = document.getElementById('filters');
  var MANAGED = ['q', 'status', 'environment', 'role'];
  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value : '';
  }

  function applyFilter() {
    var table = document.getElementById('nodes');
    if (!form || !table) return;
    var q = value('q').trim().toLowerCase();
    var status = value('status'),
      env = value('environment'),
      role = value('role');
    var n = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
      var d = tr.dataset;
      var ok =
        (!q || d.node.toLowerCase().indexOf(q) !== -1) &&
        (!status || (status === 'cached' ? d.cached === '1' : d.status === status)) &&
        (!env || d.environment === env) &&
        (!role || d.role === role);
      tr.hidden = !ok;
      if (ok) n++;
    });
    var shown = document.getElementById('shown-n');
    if (shown) shown.textContent = String(n);
    var params = new URLSearchParams(location.search);
    [
      ['q', q],
      ['status', status],
      ['environment', env],
      ['role', role],
    ].forEach(function (p) {
      if (p[1]) params.set(p[0], p[1]);
      else params.delete(p[0]);
    });
    // Keep only known parameters, the filters first.
    var out = new URLSearchParams();
    MANAGED.concat(['refresh']).forEach(function (k) {
      if (params.get(k)) out.set(k, params.get(k));
    });
    var qs = out.toString();
    history.replaceState(null, '', qs ? '?' + qs : location.pathname);
  }
  if (form) {
    form.addEventListener('input', applyFilter);
    form.addEventListener('change', applyFilter);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      applyFilter();
    });
  }

  // ---- auto-refresh --------------------------------------------------------------------
  var main = document.getElementById('main');
  var seconds = main ? Number(main.getAttribute('data-refresh')) : 0;
  if (!seconds) return;
  var LIVE = ['code-line', 'updated', 'counts', 'nodes', 'changes', 'changes-shown'];
  var busy = false;
  function enabled() {
    var box = document.getElementById('autorefresh');
    return !box || box.checked;
  }
  function refresh() {
    if (busy || !enabled() || document.hidden) return;
    busy = true;
    fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status); // 401: the session ended; the page stays as it is
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        LIVE.forEach(function (id) {
          var now = document.getElementById(id),
            next = doc.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        applyFilter();
        main.setAttribute('data-refreshed', String(Number(main.getAttribute('data-refreshed') || '0') + 1));
      })
      .catch(function () {
        /* the next tick tries again */
      })
      .then(function () {
        busy = false;
      });
  }
  setInterval(refresh, seconds * 1000);
})();
