// The activation page: reads the invitation token from the link, then sends it with the chosen
// password to the activateUser mutation. The token travels in the fragment (#token=…), which a
// browser never sends to a server; it is taken off the address bar at once.
"use strict";

(function () {
  const ACTIVATE = "mutation($token: String!, $password: String!) {" +
    " activateUser(input: {token: $token, password: $password}) {" +
    " user { email status } errors { code field message } } }";

  const form = document.getElementById("activate");
  const outcome = document.getElementById("outcome");
  const password = document.getElementById("password");
  const confirm = document.getElementById("confirm");

  function readToken() {
    const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
    const fromQuery = new URLSearchParams(window.location.search).get("token");
    if (fromFragment || fromQuery) {
      window.history.replaceState(null, "", window.location.pathname);
    }
    return fromFragment || fromQuery;
  }

  function show(text, kind) {
    outcome.textContent = text;
    outcome.className = "message " + kind;
    outcome.setAttribute("role", kind === "error" ? "alert" : "status");
    outcome.hidden = false;
  }

  function sentence(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) + "." : "";
  }

  const token = readToken();
  if (!token) {
    show("This page opens from the link in your invitation email, and this address holds no " +
      "invitation. Open the link from the email again.", "error");
    form.hidden = true;
    return;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (password.value !== confirm.value) {
      show("The two passwords differ: type the same password twice.", "error");
      confirm.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ query: ACTIVATE, variables: { token: token, password: password.value } }),
      });
      const body = await response.json();
      if (body.errors && body.errors.length) {
        show(sentence(body.errors[0].message) || "The server could not activate the account.", "error");
        return;
      }
      const result = body.data.activateUser;
      if (result.errors.length) {
        const first = result.errors[0];
        const used = first.code === "INVALID_TOKEN";
        show(sentence(first.message) + (used ? " Ask whoever invited you to send a new invitation." : ""), "error");
        if (used) { form.hidden = true; } else { password.focus(); }
        return;
      }
      form.hidden = true;
      outcome.hidden = true;
      document.getElementById("done-email").textContent = result.user.email;
      document.getElementById("done").hidden = false;
      document.getElementById("done-title").focus();
    } catch (error) {
      show("The server could not be reached. Try again in a moment.", "error");
    } finally {
      button.disabled = false;
    }
  });
})();
