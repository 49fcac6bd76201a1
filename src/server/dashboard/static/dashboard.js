// tsconverge dashboard: filter the overview's node table as you type. The page works
// without this file (the filter form is a GET form answered by the server); this only
// re-applies the same filter to the rows in the page on every keystroke or choice.
'use strict';
(function () {
  var form = document.getElementById('filters');
  var table = document.getElementById('nodes');
  if (!form || !table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var shown = document.getElementById('shown-n');
  function value(id) { var el = document.getElementById(id); return el ? el.value : ''; }
  function apply() {
    var q = value('q').trim().toLowerCase();
    var status = value('status'), env = value('environment'), role = value('role');
    var n = 0;
    rows.forEach(function (tr) {
      var d = tr.dataset;
      var ok = (!q || d.node.toLowerCase().indexOf(q) !== -1) &&
        (!status || (status === 'cached' ? d.cached === '1' : d.status === status)) &&
        (!env || d.environment === env) && (!role || d.role === role);
      tr.hidden = !ok;
      if (ok) n++;
    });
    if (shown) shown.textContent = String(n);
    // Keep the address in step, so a reload or a shared link shows the same view.
    var params = new URLSearchParams();
    [['q', q], ['status', status], ['environment', env], ['role', role]].forEach(function (p) { if (p[1]) params.set(p[0], p[1]); });
    var qs = params.toString();
    history.replaceState(null, '', qs ? '?' + qs : location.pathname);
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); apply(); });
  document.documentElement.classList.add('js');
})();
