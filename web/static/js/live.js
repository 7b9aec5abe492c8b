// Live status without a page reload. The pages work without this file: they refresh themselves.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function text(el, field, value) {
    var node = el.querySelector('[data-field="' + field + '"]');
    if (node) { node.textContent = value || ""; }
  }

  function watchSubmission(el) {
    if (el.getAttribute("data-pending") !== "true") { return; }
    var url = el.getAttribute("data-live-status");
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) { setTimeout(poll, POLL_MS * 3); return; }
          var badge = el.querySelector('[data-field="label"]');
          if (badge) { badge.textContent = s.label; badge.className = "badge badge-" + s.status; }
          // The server writes every sentence in the reader's language; this file only places them.
          text(el, "position", s.position_text);
          text(el, "detail", s.detail);
          if (!s.pending) { window.location.reload(); return; }
          setTimeout(poll, POLL_MS);
        })
        .catch(function () { setTimeout(poll, POLL_MS * 3); });
    }
    setTimeout(poll, POLL_MS);
  }

  function watchQueue(el) {
    var url = el.getAttribute("data-live-queue");
    function poll() {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (q) {
          if (q && q.texts) {
            Object.keys(q.texts).forEach(function (field) { text(el, field, q.texts[field]); });
          }
          setTimeout(poll, 5000);
        }).catch(function () { setTimeout(poll, 15000); });
    }
    setTimeout(poll, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-status]").forEach(watchSubmission);
    document.querySelectorAll("[data-live-queue]").forEach(watchQueue);
  });
})();
