// Loaded after require.js and before @jupyter-widgets/html-manager's embed-amd.js (see nb_ipywidgets_js in
// _config.yml). Two adjustments so that the saved widgets render in the static book without errors:
//
// 1. The widget bundle finds its fonts next to the AMD module "@jupyter-widgets/html-manager/dist/...";
//    without a mapping require.js resolves that name against the page's folder and the icons 404. We point it
//    at our local copy in _static/vendor/html-manager.
// 2. html-manager 1.0 typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue) whenever
//    window.MathJax exists, but the book loads MathJax 3, which has no Hub: every widget page logged
//    "Cannot read properties of undefined (reading 'Queue')". We give each MathJax object a small,
//    non-enumerable Hub that forwards to MathJax 3's typesetPromise.
(function () {
  var here = document.currentScript && document.currentScript.src;
  if (here && typeof require !== "undefined") {
    var staticDir = here.replace(/widgets-config\.js(\?.*)?$/, "");
    require.config({ paths: { "@jupyter-widgets/html-manager/dist": staticDir + "vendor/html-manager" } });
  }

  function addHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !("Hub" in mathjax)) {
      Object.defineProperty(mathjax, "Hub", {
        configurable: true,
        enumerable: false,
        value: {
          Queue: function (job) {
            var element = job && job[2];
            var mj = window.MathJax;
            if (!mj || typeof mj.typesetPromise !== "function") { return; }
            var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
            ready.then(function () { return mj.typesetPromise(element ? [element] : undefined); })
                 .catch(function (err) { console.warn("MathJax typeset of a widget failed", err); });
          }
        }
      });
    }
    return mathjax;
  }

  var current = addHub(window.MathJax);
  try {
    Object.defineProperty(window, "MathJax", {
      configurable: true,
      get: function () { return current; },
      set: function (value) { current = addHub(value); }
    });
  } catch (err) {
    console.warn("widgets-config: could not wrap window.MathJax", err);
  }
})();
