// The /docs page: Swagger UI on this server's own openapi.yaml, with "Try it out" on, and the
// access token of a successful sign-in (POST /token/, /token/refresh/ or /auth/login/{id}/)
// put under Authorize at once, so the next request is authorized without copying it by hand.
"use strict";

const SIGN_IN = /\/(token|token\/refresh|auth\/login\/\d+)\/?$/;

function accessTokenOf(response) {
  try {
    const body = typeof response.body === "object" && response.body !== null
      ? response.body : JSON.parse(response.text);
    return (body.tokens && body.tokens.access) || body.access || null;
  } catch (_) {
    return null;
  }
}

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    filter: true,
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
    responseInterceptor: (response) => {
      if (response.ok && SIGN_IN.test(new URL(response.url, location.href).pathname)) {
        const token = accessTokenOf(response);
        if (token) {
          window.ui.preauthorizeApiKey("bearerAuth", token);
        }
      }
      return response;
    },
  });
});
