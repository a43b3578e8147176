// Mounts GraphiQL against this server's /graphql. Headers typed into the Headers tab (for example
// {"Authorization": "Bearer <token from login>"}) are kept in this browser's local storage.
(function () {
  "use strict";
  var defaultQuery = [
    "# Sign in with the login mutation, then put the token in the Headers tab:",
    '# {"Authorization": "Bearer <accessToken>"}',
    "",
    "mutation SignIn {",
    '  login(input: { email: "admin@example.com", password: "<your password>" }) {',
    "    accessToken",
    "    errors { code message }",
    "  }",
    "}",
    "",
    "query Me {",
    "  viewer { kind isPlatformAdmin permissions user { email name role } reseller { name } }",
    "}",
    "",
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: true,
    })
  );
})();
