// Mounts GraphiQL against this server's /graphql, with a sign-in bar above it. The bar keeps the
// access and refresh tokens itself (in memory and this tab's session storage) and its fetcher
// sends the access token with every request, refreshing it before it expires. Access tokens live
// 15 minutes: a token pasted into the Headers tab goes stale, and the bearer backend then answers
// every request, login included, with 401; so signing in here never sends an Authorization header
// and, once signed in, the bar's token replaces whatever the Headers tab holds.
(function () {
  "use strict";
  var ENDPOINT = "/graphql";
  var STORAGE_KEY = "channelbill.graphiql.session";
  var REFRESH_MARGIN_MS = 60 * 1000; // refresh this long before the access token expires...
  var MIN_REFRESH_DELAY_MS = 1000; // ...but never sooner than this, whatever the clocks say
  var LOGIN =
    "mutation SignIn($input: LoginInput!) { login(input: $input) {" +
    " accessToken refreshToken expiresAt errors { code message } } }";
  var REFRESH =
    "mutation Refresh($input: RefreshTokenInput!) { refreshToken(input: $input) {" +
    " accessToken refreshToken expiresAt errors { code message } } }";
  var VIEWER = "query SignedInAs { viewer { kind user { email } reseller { name } } }";
  var defaultQuery = [
    "# Sign in with the bar above: every request then carries your access token,",
    "# refreshed before it expires.",
    "",
    "query Me {",
    "  viewer { kind isPlatformAdmin permissions user { email name role } reseller { name } }",
    "}",
    "",
    "query Customers {",
    "  customers(first: 10) { totalCount edges { node { name email } } }",
    "}",
    "",
  ].join("\n");

  var el = function (id) {
    return document.getElementById(id);
  };
  var form = el("sign-in-form");
  var signedInBox = el("signed-in");
  var signedInAs = el("signed-in-as");
  var message = el("sign-in-message");

  // { access, refresh, expiresAtMs (this browser's clock), who } or null.
  var session = null;
  var refreshTimer = null;
  var refreshing = null; // the one refresh in flight: a refresh token is single use

  function say(text, problem) {
    message.textContent = text || "";
    message.className = problem ? "problem" : "";
  }

  function post(body, headers) {
    return fetch(ENDPOINT, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json", Accept: "application/json" }, headers),
      body: JSON.stringify(body),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(
        function (json) {
          return { status: response.status, date: response.headers.get("Date"), json: json };
        },
        function () {
          return { status: response.status, date: null, json: { errors: [{ message: "HTTP " + response.status }] } };
        }
      );
    });
  }

  // The server's expiresAt is on the server's clock: measure the lifetime against the response's
  // Date header, and schedule on this browser's clock, so a skewed clock does not matter.
  function expiryOnOurClock(expiresAt, dateHeader) {
    var serverNow = dateHeader ? Date.parse(dateHeader) : NaN;
    var lifetime = Date.parse(expiresAt) - (isNaN(serverNow) ? Date.now() : serverNow);
    return Date.now() + Math.max(lifetime, 0);
  }

  function save() {
    try {
      if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      // Storage refused (private mode, quota): the tokens stay in memory only.
    }
  }

  function restore() {
    try {
      var stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      if (stored && stored.access && stored.refresh) return stored;
    } catch (e) {
      // Unreadable: start signed out.
    }
    return null;
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (!session) return;
    var lifetime = session.expiresAtMs - Date.now();
    var margin = Math.min(REFRESH_MARGIN_MS, lifetime / 4);
    var delay = Math.max(lifetime - margin, MIN_REFRESH_DELAY_MS);
    refreshTimer = setTimeout(function () {
      refresh().catch(function () {});
    }, delay);
  }

  function adopt(result, payload, who) {
    session = {
      access: payload.accessToken,
      refresh: payload.refreshToken,
      expiresAtMs: expiryOnOurClock(payload.expiresAt, result.date),
      who: who,
    };
    save();
    scheduleRefresh();
  }

  function forget(text, problem) {
    clearTimeout(refreshTimer);
    session = null;
    refreshing = null;
    save();
    showState();
    say(text, problem);
    remount();
  }

  function refresh() {
    if (!session) return Promise.reject(new Error("signed out"));
    if (refreshing) return refreshing;
    var spent = session.refresh;
    refreshing = post({ query: REFRESH, variables: { input: { refreshToken: spent } } }, {})
      .then(function (result) {
        var payload = result.json.data && result.json.data.refreshToken;
        if (!payload || !payload.accessToken || payload.errors.length) {
          forget("Your session ended: sign in again.", true);
          throw new Error("refresh refused");
        }
        if (session && session.refresh === spent) adopt(result, payload, session.who);
        refreshing = null;
      })
      .catch(function (error) {
        refreshing = null;
        throw error;
      });
    return refreshing;
  }

  function describe(viewer, email) {
    if (!viewer) return email;
    var who = (viewer.user && viewer.user.email) || email;
    var where = viewer.reseller ? viewer.reseller.name : viewer.kind === "PLATFORM_ADMIN" ? "platform admin" : "";
    return where ? who + " (" + where + ")" : who;
  }

  function showState() {
    form.hidden = !!session;
    signedInBox.hidden = !session;
    signedInAs.textContent = session ? "Signed in as " + session.who : "";
  }

  function signIn(event) {
    event.preventDefault();
    var email = el("sign-in-email").value.trim();
    var input = { email: email, password: el("sign-in-password").value };
    var reseller = el("sign-in-reseller").value.trim();
    if (reseller) input.reseller = reseller;
    say("Signing in…");
    // No Authorization header: the bearer backend would refuse a stale one before login runs.
    post({ query: LOGIN, variables: { input: input } }, {})
      .then(function (result) {
        var payload = result.json.data && result.json.data.login;
        if (!payload) {
          var first = (result.json.errors || [])[0];
          say("Sign-in failed: " + (first ? first.message : "HTTP " + result.status), true);
          return;
        }
        if (payload.errors.length) {
          var error = payload.errors[0];
          var hint = error.code === "RESELLER_REQUIRED" ? " Fill in the reseller slug." : "";
          say("Sign-in failed: " + error.message + hint, true);
          return;
        }
        adopt(result, payload, email);
        el("sign-in-password").value = "";
        return post({ query: VIEWER }, { Authorization: "Bearer " + session.access }).then(function (who) {
          session.who = describe(who.json.data && who.json.data.viewer, email);
          save();
          showState();
          say("");
          remount();
        });
      })
      .catch(function (error) {
        say("Sign-in failed: " + error.message, true);
      });
  }

  function withoutAuthorization(headers) {
    var kept = {};
    var dropped = false;
    Object.keys(headers || {}).forEach(function (name) {
      if (name.toLowerCase() === "authorization") dropped = true;
      else kept[name] = headers[name];
    });
    return { headers: kept, dropped: dropped };
  }

  // GraphiQL's fetcher: the Headers tab's headers, with the signed-in token in place of any
  // Authorization header there; a 401 refreshes once and retries.
  function fetcher(params, options) {
    var fromTab = (options && options.headers) || {};
    if (!session) {
      return post(params, fromTab).then(function (result) {
        if (result.status === 401 && withoutAuthorization(fromTab).dropped) {
          say(
            "The Authorization header in the Headers tab was refused (invalid or expired token):" +
              " sign in above, which replaces it, or remove it.",
            true
          );
        }
        return result.json;
      });
    }
    var tab = withoutAuthorization(fromTab);
    var headers = tab.headers;
    if (tab.dropped) say("The Headers tab's Authorization header is not sent while you are signed in.");
    var send = function () {
      return post(params, Object.assign({}, headers, { Authorization: "Bearer " + session.access }));
    };
    var due = session.expiresAtMs - Date.now() < MIN_REFRESH_DELAY_MS;
    return (due ? refresh() : Promise.resolve())
      .then(send, send)
      .then(function (result) {
        if (result.status !== 401 || !session) return result;
        return refresh().then(send, function () {
          return result;
        });
      })
      .then(function (result) {
        return result.json;
      });
  }

  var root = ReactDOM.createRoot(el("graphiql"));
  // Signing in or out renders GraphiQL with a new fetcher, so it fetches the schema again as the
  // new caller (outside development only signed-in callers may introspect).
  function remount() {
    root.render(
      React.createElement(GraphiQL, {
        fetcher: function (params, options) {
          return fetcher(params, options);
        },
        defaultQuery: defaultQuery,
        shouldPersistHeaders: true,
        defaultEditorToolsVisibility: true,
      })
    );
  }

  form.addEventListener("submit", signIn);
  el("sign-out-button").addEventListener("click", function () {
    // End the sign-in on the server too (its tokens stop working at once), then forget them.
    var ending = session
      ? post({ query: "mutation { logout { signedOut } }" }, { Authorization: "Bearer " + session.access })
      : Promise.resolve();
    ending.catch(function () {}).then(function () {
      forget("Signed out.", false);
    });
  });
  session = restore();
  scheduleRefresh();
  showState();
  remount();
})();
