/* /api/docs: the OpenAPI document of /api/openapi.json, browsable (Swagger UI from npm). */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.gwApiDocs = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    docExpansion: "list",
    tryItOutEnabled: false,
    validatorUrl: null  // never send the document to a third-party validator
  });
})();
