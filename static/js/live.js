// Live cards without a framework: an element with data-card-url and data-live="1" is fetched again every
// two seconds and replaced by the server's own rendering of it, until that rendering says data-live="0".
(function () {
  var PERIOD_MS = 2000, MAX_FAILURES = 5;
  function watch(card, failures) {
    failures = failures || 0;
    if (!card || card.dataset.live !== "1" || failures >= MAX_FAILURES) return;
    setTimeout(function () {
      fetch(card.dataset.cardUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.querySelector("[data-card-url]");
          if (!fresh) return;
          card.replaceWith(fresh);
          watch(fresh);
        })
        .catch(function () { watch(card, failures + 1); });  // a dropped poll is tried again, a few times
    }, PERIOD_MS);
  }
  document.querySelectorAll("[data-card-url]").forEach(function (card) { watch(card); });
})();
