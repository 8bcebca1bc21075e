// The page's two DOM helpers, loaded before the page's other scripts (chart-hover.js, look.js, app.js).
(function () {
  'use strict';
  var $ = function (id) {
    return document.getElementById(id);
  };
  window.sluiceDom = {
    $: $,
    // Set an element's text (never HTML: every value shown comes from the region or a peer).
    text: function (id, v) {
      $(id).textContent = String(v);
    },
  };
})();
