// Loaded on pages with widgets only, after require.js and before the ipywidgets embed manager
// (nb_ipywidgets_js in _config.yml).
(function () {
  // The embed manager's modules find their icon fonts relative to their require.js module URL,
  // by default a folder beside the page. Map them to the local copy beside this file
  // (book/_static/vendor, made by `python -m autograder.site_assets`).
  var here = document.currentScript && document.currentScript.src;
  if (here && window.requirejs) {
    window.requirejs.config({
      paths: { "@jupyter-widgets/html-manager/dist": new URL("vendor/html-manager", here).href },
    });
  }
  // ipywidgets 8 typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads
  // MathJax 3, which has no Hub. Map the call onto MathJax 3 once MathJax is there (its deferred
  // script has run by DOMContentLoaded; widgets render at window load).
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || !mathjax.version || mathjax.Hub) {
      return;
    }
    mathjax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        if (mathjax.startup && mathjax.startup.promise) {
          mathjax.startup.promise.then(function () {
            return mathjax.typesetPromise(element ? [element] : undefined);
          });
        }
      },
    };
  });
})();
