// The card page: signs in (or reuses GraphiQL's sign-in of this tab), shows the card on file,
// and puts another there. With Stripe the card is typed into Stripe's own Elements, which
// confirm a SetupIntent (from createCardSetup) with Stripe directly, 3-D Secure included; only
// the intent's id (seti_…) is then sent to us, as the paymentToken of updatePaymentMethod, or of
// reactivateAccount while the account is DEACTIVATED. The sandbox takes a test token instead.
"use strict";

(function () {
  const ENDPOINT = "/graphql";
  const STORAGE_KEY = "channelbill.graphiql.session"; // shared with GraphiQL's sign-in bar
  const REFRESH_MARGIN_MS = 60 * 1000;
  const LOGIN = "mutation($input: LoginInput!) { login(input: $input) {" +
    " accessToken refreshToken expiresAt errors { code message } } }";
  const REFRESH = "mutation($input: RefreshTokenInput!) { refreshToken(input: $input) {" +
    " accessToken refreshToken expiresAt errors { code message } } }";
  const CARD = "paymentMethod { brand last4 expMonth expYear }";
  const VIEWER = "{ viewer { user { email } reseller { name status " + CARD + " } } }";
  const SETUP = "mutation { createCardSetup(input: {}) {" +
    " gateway clientSecret publishableKey jsUrl errors { code message } } }";
  const SAVE = {
    update: "mutation($token: String!) { updatePaymentMethod(input: {paymentToken: $token}) {" +
      " reseller { status } " + CARD + " errors { code message } } }",
    reactivate: "mutation($token: String!) { reactivateAccount(input: {paymentToken: $token}) {" +
      " reseller { status } " + CARD + " errors { code message } } }",
  };

  const el = (id) => document.getElementById(id);
  const outcome = el("outcome");
  const signIn = el("sign-in");
  const account = el("account");
  const newCard = el("stripe-form") || el("sandbox-form");

  let session = null; // { access, refresh, expiresAtMs, who }, as GraphiQL keeps it
  let status = null; // the reseller's AccountStatus
  let stripe = null;
  let cardElement = null;
  let clientSecret = null;

  function show(text, kind) {
    outcome.textContent = text;
    outcome.className = "message " + kind;
    outcome.setAttribute("role", kind === "error" ? "alert" : "status");
    outcome.hidden = !text;
  }

  function sentence(text) {
    if (!text) return "";
    const first = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(first) ? first : first + ".";
  }

  function restore() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      if (stored && stored.access && stored.refresh) return stored;
    } catch (e) {
      // Unreadable: signed out.
    }
    return null;
  }

  function save() {
    try {
      if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
      else sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      // Storage refused: the tokens stay in memory only.
    }
  }

  async function post(query, variables, bearer) {
    const headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const response = await fetch(ENDPOINT, {
      method: "POST", headers: headers, credentials: "omit",
      body: JSON.stringify({ query: query, variables: variables || {} }),
    });
    const body = await response.json().catch(() => ({ errors: [{ message: "HTTP " + response.status }] }));
    return { status: response.status, date: response.headers.get("Date"), body: body };
  }

  function adopt(result, payload, who) {
    const serverNow = result.date ? Date.parse(result.date) : NaN;
    const lifetime = Date.parse(payload.expiresAt) - (isNaN(serverNow) ? Date.now() : serverNow);
    session = {
      access: payload.accessToken, refresh: payload.refreshToken,
      expiresAtMs: Date.now() + Math.max(lifetime, 0), who: who,
    };
    save();
  }

  // The access token, refreshed first when it is about to expire; null when signed out.
  async function accessToken() {
    if (!session) return null;
    if (session.expiresAtMs - Date.now() > REFRESH_MARGIN_MS) return session.access;
    const result = await post(REFRESH, { input: { refreshToken: session.refresh } });
    const payload = result.body.data && result.body.data.refreshToken;
    if (!payload || !payload.accessToken) {
      session = null;
      save();
      return null;
    }
    adopt(result, payload, session.who);
    return session.access;
  }

  // One authenticated operation: its data, or throws an Error with the message to show.
  async function call(query, variables) {
    const token = await accessToken();
    if (!token) {
      showSignIn("Your session ended: sign in again.");
      throw new Error("");
    }
    const result = await post(query, variables, token);
    if (result.status === 401) {
      session = null;
      save();
      showSignIn("Your session ended: sign in again.");
      throw new Error("");
    }
    const errors = result.body.errors || [];
    if (errors.length) throw new Error(sentence(errors[0].message) || "The server refused.");
    return result.body.data;
  }

  function describe(card) {
    if (!card) return "No card on file.";
    const month = String(card.expMonth).padStart(2, "0");
    const brand = card.brand.charAt(0).toUpperCase() + card.brand.slice(1);
    return brand + " ending " + card.last4 + ", expires " + month + "/" + card.expYear;
  }

  function showSignIn(text) {
    account.hidden = true;
    newCard.hidden = true;
    el("sign-out-line").hidden = true;
    signIn.hidden = false;
    show(text || "", "error");
    el("email").focus();
  }

  function showCard(card) {
    el("current-card").textContent = describe(card);
  }

  async function load() {
    const data = await call(VIEWER);
    const reseller = data.viewer.reseller;
    if (!reseller) {
      showSignIn("This page is a reseller's: sign in as one of its users with billing access.");
      return;
    }
    status = reseller.status;
    signIn.hidden = true;
    el("reseller-name").textContent = reseller.name;
    el("status").textContent = status === "DEACTIVATED"
      ? "deactivated: a new card reactivates it at once"
      : status === "PAST_DUE" ? "a payment failed: the next try uses the new card" : "active";
    showCard(reseller.paymentMethod);
    account.hidden = false;
    el("sign-out-line").hidden = false;
    await prepare();
    newCard.hidden = false;
  }

  // A fresh SetupIntent (one per try: a declined one is spent), and Elements mounted once.
  async function prepare() {
    const setup = (await call(SETUP)).createCardSetup;
    if (setup.errors.length) throw new Error(sentence(setup.errors[0].message));
    if (setup.gateway !== "stripe") return; // the sandbox: the list of test tokens
    if (typeof window.Stripe !== "function") {
      throw new Error("The payment gateway's script did not load: reload the page to try again.");
    }
    clientSecret = setup.clientSecret;
    if (!stripe) {
      stripe = window.Stripe(setup.publishableKey);
      cardElement = stripe.elements().create("card", { hidePostalCode: true });
      cardElement.mount("#card-element");
    }
  }

  async function keep(token) {
    const name = status === "DEACTIVATED" ? "reactivateAccount" : "updatePaymentMethod";
    const query = status === "DEACTIVATED" ? SAVE.reactivate : SAVE.update;
    const result = (await call(query, { token: token }))[name];
    if (result.errors.length) throw new Error(sentence(result.errors[0].message));
    status = result.reseller.status;
    showCard(result.paymentMethod);
    el("status").textContent = "active";
    show("Saved: " + describe(result.paymentMethod) + " is your card on file now.", "ok");
  }

  async function submitStripe() {
    // The card's number goes from Stripe's fields to Stripe; we get the SetupIntent back.
    const confirmed = await stripe.confirmCardSetup(clientSecret, { payment_method: { card: cardElement } });
    if (confirmed.error) {
      await prepare();
      throw new Error(sentence(confirmed.error.message) || "The card was not saved.");
    }
    await keep(confirmed.setupIntent.id);
    await prepare();
  }

  async function submitSandbox() {
    const chosen = newCard.querySelector("input[name=token]:checked");
    if (!chosen) throw new Error("Pick one of the test cards.");
    await keep(chosen.value);
  }

  newCard.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = newCard.querySelector("button.save");
    button.disabled = true;
    show("", "ok");
    try {
      if (stripe) await submitStripe(); else await submitSandbox();
    } catch (error) {
      if (error.message) show(error.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  signIn.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = signIn.querySelector("button");
    button.disabled = true;
    try {
      const email = el("email").value.trim();
      const result = await post(LOGIN, { input: { email: email, password: el("password").value } });
      const payload = result.body.data && result.body.data.login;
      if (!payload || !payload.accessToken) {
        const first = payload && payload.errors[0];
        show(sentence(first ? first.message : "The server could not sign you in"), "error");
        return;
      }
      el("password").value = "";
      adopt(result, payload, email);
      show("", "ok");
      await load();
    } catch (error) {
      if (error.message) show(error.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  el("sign-out").addEventListener("click", function () {
    session = null;
    save();
    showSignIn("");
  });

  session = restore();
  if (!session) {
    showSignIn("");
  } else {
    load().catch(function (error) {
      if (error.message) show(error.message, "error");
    });
  }
})();
