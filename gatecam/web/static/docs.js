// Swagger UI over this server's OpenAPI document (as 3.0, which this Swagger UI reads);
// everything it loads is this server's.
window.ui = SwaggerUIBundle({ url: "/docs/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
