// queuectl dashboard: refreshes the live parts of a page by fetching their HTML from the
// service, so filters, scroll and open sections stay as the user left them. No library.
(function () {
  'use strict';

  function keepState(el) {
    var open = {};
    var scroll = {};
    Array.prototype.forEach.call(el.querySelectorAll('details[id]'), function (d) {
      open[d.id] = d.open;
    });
    Array.prototype.forEach.call(el.querySelectorAll('[data-keep-scroll][id]'), function (p) {
      // Output that was scrolled to the end keeps following; elsewhere it stays put.
      scroll[p.id] = p.scrollTop + p.clientHeight >= p.scrollHeight - 4 ? 'end' : p.scrollTop;
    });
    return function restore() {
      Object.keys(open).forEach(function (id) {
        var d = document.getElementById(id);
        if (d) d.open = open[id];
      });
      Object.keys(scroll).forEach(function (id) {
        var p = document.getElementById(id);
        if (p) p.scrollTop = scroll[id] === 'end' ? p.scrollHeight : scroll[id];
      });
    };
  }

  function live(el) {
    var every = Number(el.getAttribute('data-every')) || 2000;
    var busy = false;
    var timer = null;
    function tick() {
      if (busy || document.hidden) return;
      // Never swap the part the user is typing in or pressing.
      if (el.contains(document.activeElement) && document.activeElement.matches('input, select, textarea')) return;
      busy = true;
      fetch(el.getAttribute('data-live'), { credentials: 'same-origin', headers: { 'X-Requested-With': 'fetch' } })
        .then(function (res) {
          if (res.status === 401) {
            window.location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
            throw new Error('logged out');
          }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.text();
        })
        .then(function (html) {
          var restore = keepState(el);
          el.innerHTML = html;
          restore();
          el.removeAttribute('data-stale');
          if (el.querySelector('[data-live-stop]')) clearInterval(timer);
        })
        .catch(function () {
          el.setAttribute('data-stale', '');
        })
        .then(function () {
          busy = false;
        });
    }
    timer = setInterval(tick, every);
  }

  document.addEventListener('submit', function (e) {
    var message = e.target.getAttribute('data-confirm');
    if (message && !window.confirm(message)) e.preventDefault();
  });

  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), live);
    Array.prototype.forEach.call(document.querySelectorAll('pre[data-keep-scroll]'), function (p) {
      p.scrollTop = p.scrollHeight;
    });
  });
})();
