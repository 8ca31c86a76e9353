// Starts ReDoc on the element that names the OpenAPI document (no inline script: see
// swagger-init.js). The page links no web fonts: ReDoc's theme falls back to the system's.
"use strict";
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, {}, root);
})();
