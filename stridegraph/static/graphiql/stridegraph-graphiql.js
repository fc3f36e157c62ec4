// stridegraph's GraphiQL set-up. A file of its own, not an inline script, so the page's
// Content-Security-Policy can allow scripts from this origin only.
(function () {
  "use strict";

  var DEFAULT_QUERY = [
    "# stridegraph: the account service, as GraphQL.",
    "#",
    "# Sign in with the login mutation below, then put the accessToken in the",
    "# Headers tab as {\"Authorization\": \"Bearer <accessToken>\"} and ask for me.",
    "# Headers are kept only while this tab is open (never stored in the browser).",
    "",
    "mutation SignIn {",
    "  login(username: \"admin\", password: \"your password\") {",
    "    accessToken",
    "    errors { field code message }",
    "  }",
    "}",
    "",
    "query Me {",
    "  me { id username name email accessType }",
    "}",
    "",
  ].join("\n");

  // The page is served by GET /graphql: the endpoint is the page's own URL.
  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + window.location.pathname,
  });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  // GraphiQL's storage, minus every header. shouldPersistHeaders false keeps the headers
  // editor and the tabs out of localStorage, but GraphiQL 3.8's history and favourites
  // still store each run's headers, bearer token included: drop them on the way in.
  var PREFIX = "graphiql:";
  function withoutHeaders(value) {
    try {
      var parsed = JSON.parse(value);
      if (parsed === null || typeof parsed !== "object") return value;
      return JSON.stringify(parsed, function (key, item) {
        return key === "headers" ? undefined : item;
      });
    } catch (notJson) {
      return value;
    }
  }
  function ownKeys() {
    return Object.keys(window.localStorage).filter(function (key) {
      return key.indexOf(PREFIX) === 0;
    });
  }
  var storage = {
    getItem: function (key) {
      return window.localStorage.getItem(key);
    },
    setItem: function (key, value) {
      if (key === PREFIX + "headers") return;
      window.localStorage.setItem(key, withoutHeaders(value));
    },
    removeItem: function (key) {
      window.localStorage.removeItem(key);
    },
    clear: function () {
      ownKeys().forEach(function (key) {
        window.localStorage.removeItem(key);
      });
    },
    get length() {
      return ownKeys().length;
    },
  };

  function StridegraphGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: DEFAULT_QUERY,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // A bearer token typed into the headers editor must not outlive the tab.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(StridegraphGraphiQL),
  );
})();
