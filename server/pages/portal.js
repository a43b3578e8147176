// The customer portal: a customer's balance, invoices and statements, read from the GraphQL API
// with the portal token of the link a reseller sent. The token travels in the fragment
// (#token=…), which a browser never sends to a server; it is kept in this tab's sessionStorage
// and taken off the address bar at once. Views are fragments too: #/, #/invoices/<id>,
// #/statements. Every text is built with textContent: nothing from the API becomes markup.
"use strict";

(function () {
  const STORE = "channelbill.portal.token";
  const CONVERT_TO = ["EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD"];

  // Catalogues: English, and German. The customer's browser says which (the billing account
  // has no language of its own); anything else is English.
  const MESSAGES = {
    en: {
      portal: "Billing portal",
      navLabel: "Portal",
      account: "Your account",
      statements: "Statements",
      loading: "Loading…",
      billingFor: "Billing for {name}",
      balance: "Balance",
      youOwe: "You owe {amount}",
      nothingOwed: "Nothing is owed.",
      agingCaption: "What is owed, by how late it is, on {date}",
      agingWhen: "Due",
      amount: "Amount",
      current: "Not yet due",
      days1To30: "1 to 30 days late",
      days31To60: "31 to 60 days late",
      days61To90: "61 to 90 days late",
      over90Days: "More than 90 days late",
      total: "Total",
      openInvoices: "Open invoices",
      noOpen: "No invoice is open.",
      history: "History",
      noHistory: "No paid or voided invoice yet.",
      invoice: "Invoice",
      period: "Period",
      due: "Due",
      amountDue: "Amount due",
      status: "Status",
      invoiceNo: "Invoice {number}",
      periodRange: "{from} to {to}",
      issued: "Issued",
      dueDate: "Due date",
      paidOn: "Paid on",
      voidedOn: "Voided on",
      billedBy: "From",
      billedTo: "To",
      details: "Details",
      lines: "Lines",
      description: "Description",
      quantityTimes: "{quantity} × {price}",
      subtotal: "Subtotal",
      tax: "Tax ({rate} %)",
      paid: "Paid",
      payments: "Payments",
      noPayments: "No payment yet.",
      date: "Date",
      method: "Method",
      downloads: "Downloads",
      pdf: "PDF",
      csv: "CSV",
      detailedCsv: "Detailed CSV",
      print: "Print view",
      opensNewTab: "(opens in a new tab)",
      currencyView: "In another currency",
      showIn: "Show the total in",
      convert: "Convert",
      converted: "{amount}, at {rate} {quote} per {base} on {date}.",
      noRate: "There is no exchange rate from {base} to {quote} for that day.",
      back: "Back to your account",
      statementTitle: "Statements",
      statementLead: "A statement of your account for any period: what was invoiced, paid and voided, day by day.",
      from: "From",
      to: "To",
      show: "Show the statement",
      statementFor: "Statement, {from} to {to}",
      opening: "Opening balance",
      closing: "Closing balance",
      entry: "Entry",
      change: "Charged or credited",
      runningBalance: "Balance",
      noEntries: "Nothing happened in this period.",
      badPeriod: "Choose a first day that is not after the last day.",
      entryINVOICE: "Invoice {reference}",
      entryPAYMENT: "Payment for invoice {reference}",
      entryVOID: "Invoice {reference} voided",
      statusOPEN: "Open",
      statusCLOSED: "Paid",
      statusVOID: "Voided",
      statusDRAFT: "Draft",
      methodCARD: "Card",
      methodBANK_TRANSFER: "Bank transfer",
      methodCHEQUE: "Cheque",
      methodOTHER: "Other",
      methodOUT_OF_BAND: "Recorded by your provider",
      paymentSUCCEEDED: "Succeeded",
      paymentFAILED: "Declined",
      paymentPENDING: "Pending",
      contact: "Questions about a bill? Write to",
      website: "Website of {name}",
      linkValid: "This link works until {time}.",
      noTokenTitle: "No access link",
      expiredTitle: "This link has expired",
      revokedTitle: "This link no longer works",
      notYoursTitle: "No such invoice",
      unreachableTitle: "The billing service could not be reached",
      failedTitle: "Something went wrong",
      noToken: "This page opens from the link your provider sends you, and this address holds none. Open the link again, or ask your provider for a new one.",
      expired: "Portal links work for a limited time. Ask your provider for a new one.",
      revoked: "Your provider has withdrawn it. Ask them for a new one if you still need it.",
      notYours: "There is no such invoice in your account. It may belong to someone else, or the address may be mistyped.",
      unreachable: "The billing service could not be reached. Check your connection and try again.",
      failed: "Something went wrong while reading your account. Try again in a moment.",
    },
    de: {
      portal: "Rechnungsportal",
      navLabel: "Portal",
      account: "Ihr Konto",
      statements: "Kontoauszüge",
      loading: "Wird geladen…",
      billingFor: "Rechnungen für {name}",
      balance: "Saldo",
      youOwe: "Offener Betrag: {amount}",
      nothingOwed: "Es ist nichts offen.",
      agingCaption: "Offene Beträge nach Verzug, Stand {date}",
      agingWhen: "Fällig",
      amount: "Betrag",
      current: "Noch nicht fällig",
      days1To30: "1 bis 30 Tage überfällig",
      days31To60: "31 bis 60 Tage überfällig",
      days61To90: "61 bis 90 Tage überfällig",
      over90Days: "Mehr als 90 Tage überfällig",
      total: "Gesamt",
      openInvoices: "Offene Rechnungen",
      noOpen: "Keine Rechnung ist offen.",
      history: "Verlauf",
      noHistory: "Noch keine bezahlte oder stornierte Rechnung.",
      invoice: "Rechnung",
      period: "Zeitraum",
      due: "Fällig",
      amountDue: "Offen",
      status: "Status",
      invoiceNo: "Rechnung {number}",
      periodRange: "{from} bis {to}",
      issued: "Ausgestellt",
      dueDate: "Fällig am",
      paidOn: "Bezahlt am",
      voidedOn: "Storniert am",
      billedBy: "Von",
      billedTo: "An",
      details: "Angaben",
      lines: "Positionen",
      description: "Beschreibung",
      quantityTimes: "{quantity} × {price}",
      subtotal: "Zwischensumme",
      tax: "Steuer ({rate} %)",
      paid: "Bezahlt",
      payments: "Zahlungen",
      noPayments: "Noch keine Zahlung.",
      date: "Datum",
      method: "Art",
      downloads: "Herunterladen",
      pdf: "PDF",
      csv: "CSV",
      detailedCsv: "CSV mit Einzelposten",
      print: "Druckansicht",
      opensNewTab: "(öffnet einen neuen Tab)",
      currencyView: "In einer anderen Währung",
      showIn: "Gesamtbetrag anzeigen in",
      convert: "Umrechnen",
      converted: "{amount}, zum Kurs {rate} {quote} je {base} vom {date}.",
      noRate: "Für diesen Tag gibt es keinen Wechselkurs von {base} nach {quote}.",
      back: "Zurück zu Ihrem Konto",
      statementTitle: "Kontoauszüge",
      statementLead: "Ein Auszug Ihres Kontos für einen beliebigen Zeitraum: was berechnet, bezahlt und storniert wurde, Tag für Tag.",
      from: "Von",
      to: "Bis",
      show: "Kontoauszug anzeigen",
      statementFor: "Kontoauszug, {from} bis {to}",
      opening: "Anfangssaldo",
      closing: "Endsaldo",
      entry: "Buchung",
      change: "Belastet oder gutgeschrieben",
      runningBalance: "Saldo",
      noEntries: "In diesem Zeitraum gab es keine Buchungen.",
      badPeriod: "Der erste Tag darf nicht nach dem letzten liegen.",
      entryINVOICE: "Rechnung {reference}",
      entryPAYMENT: "Zahlung zu Rechnung {reference}",
      entryVOID: "Rechnung {reference} storniert",
      statusOPEN: "Offen",
      statusCLOSED: "Bezahlt",
      statusVOID: "Storniert",
      statusDRAFT: "Entwurf",
      methodCARD: "Karte",
      methodBANK_TRANSFER: "Überweisung",
      methodCHEQUE: "Scheck",
      methodOTHER: "Sonstige",
      methodOUT_OF_BAND: "Von Ihrem Anbieter erfasst",
      paymentSUCCEEDED: "Erfolgreich",
      paymentFAILED: "Abgelehnt",
      paymentPENDING: "Ausstehend",
      contact: "Fragen zu einer Rechnung? Schreiben Sie an",
      website: "Website von {name}",
      linkValid: "Dieser Link gilt bis {time}.",
      noTokenTitle: "Kein Zugangslink",
      expiredTitle: "Dieser Link ist abgelaufen",
      revokedTitle: "Dieser Link gilt nicht mehr",
      notYoursTitle: "Keine solche Rechnung",
      unreachableTitle: "Der Rechnungsdienst ist nicht erreichbar",
      failedTitle: "Etwas ist schiefgegangen",
      noToken: "Diese Seite öffnet sich über den Link, den Ihr Anbieter Ihnen schickt, und diese Adresse enthält keinen. Öffnen Sie den Link erneut oder bitten Sie Ihren Anbieter um einen neuen.",
      expired: "Portal-Links gelten nur eine begrenzte Zeit. Bitten Sie Ihren Anbieter um einen neuen.",
      revoked: "Ihr Anbieter hat ihn zurückgezogen. Bitten Sie ihn um einen neuen, wenn Sie ihn noch brauchen.",
      notYours: "In Ihrem Konto gibt es keine solche Rechnung. Sie gehört vielleicht jemand anderem, oder die Adresse ist falsch.",
      unreachable: "Der Rechnungsdienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      failed: "Beim Lesen Ihres Kontos ist etwas schiefgegangen. Versuchen Sie es gleich noch einmal.",
    },
  };

  function pickLocale() {
    const wanted = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || "en"];
    for (const tag of wanted) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (MESSAGES[base]) { return { lang: base, locale: tag }; }
    }
    return { lang: "en", locale: "en" };
  }

  const { lang, locale } = pickLocale();
  const texts = MESSAGES[lang];

  function t(key, values) {
    let text = texts[key] !== undefined ? texts[key] : MESSAGES.en[key];
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  // Formatting: Intl, in the customer's locale. Amounts are the API's exact decimal strings
  // (Intl formats a string without going through a binary float).
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
  const timeFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

  function day(value) {
    if (!value) { return ""; }
    return dateFormat.format(new Date(String(value).slice(0, 10) + "T00:00:00Z"));
  }

  function money(value, exact) {
    if (!value) { return ""; }
    const options = { style: "currency", currency: value.currency };
    if (exact) { options.maximumFractionDigits = 6; }
    return new Intl.NumberFormat(locale, options).format(value.amount);
  }

  function number(value) {
    return new Intl.NumberFormat(locale, { maximumFractionDigits: 6 }).format(value);
  }

  function period(from, to) {
    return t("periodRange", { from: day(from), to: day(to) });
  }

  // The DOM, built by hand: el("p", {class: "x"}, "text", child).
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) { continue; }
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) { continue; }
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A table named by its caption; "quiet" hides the caption from sight when a heading above
  // already says the same, and leaves it to name the table for screen readers.
  function table(caption, headers, rows, numeric, quiet) {
    const isNumeric = (i) => numeric && numeric.includes(i);
    return el("table", {},
      el("caption", { class: quiet ? "visually-hidden" : null }, caption),
      el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: isNumeric(i) ? "num" : null }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) =>
        i === 0 ? el("th", { scope: "row", class: isNumeric(i) ? "num" : null }, c)
          : el("td", { class: isNumeric(i) ? "num" : null }, c))))));
  }

  // The token: from the fragment (then off the address bar), else what this tab kept.
  function readToken() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const fromFragment = params.get("token");
    if (fromFragment) {
      try { window.sessionStorage.setItem(STORE, fromFragment); } catch (e) { /* memory only */ }
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
      return fromFragment;
    }
    try { return window.sessionStorage.getItem(STORE); } catch (e) { return null; }
  }

  let token = readToken();

  function forget() {
    token = null;
    try { window.sessionStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
  }

  // When the token itself says it has run out (the server decides; this only picks the words).
  function tokenExpired() {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
      return typeof claims.exp === "number" && claims.exp * 1000 <= Date.now();
    } catch (e) {
      return false;
    }
  }

  class Refused extends Error {
    constructor(key) { super(key); this.key = key; }
  }

  async function api(query, variables) {
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "Authorization": "Bearer " + token,
        },
        body: JSON.stringify({ query: query, variables: variables || {} }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new Refused("unreachable");
    }
    if (response.status === 401) {
      const key = tokenExpired() ? "expired" : "revoked";
      forget();
      throw new Refused(key);
    }
    let body;
    try { body = await response.json(); } catch (error) { throw new Refused("failed"); }
    return body;
  }

  const MONEY = "{ amount currency }";
  const SELLER = "seller { name senderName logoDataUri websiteUrl replyTo }";
  const INVOICE_ROW = "id number status periodStart periodEnd issuedAt dueDate closedAt voidedAt" +
    " total " + MONEY + " amountDue " + MONEY;
  const HOME = "query Home($today: Date!) { viewer { expiresAt " + SELLER +
    " customer { id name currency balance " + MONEY +
    " statement(from: $today, to: $today) { aging { asOf current " + MONEY + " days1To30 " + MONEY +
    " days31To60 " + MONEY + " days61To90 " + MONEY + " over90Days " + MONEY + " total " + MONEY + " } } } }" +
    " open: invoices(first: 100, filter: {status: [OPEN]}) { totalCount edges { node { " + INVOICE_ROW + " } } }" +
    " history: invoices(last: 100, filter: {status: [CLOSED, VOID]}) { totalCount edges { node { " + INVOICE_ROW + " } } } }";
  const INVOICE = "query Invoice($id: ID!) { viewer { expiresAt " + SELLER + " }" +
    " node(id: $id) { ... on Invoice { " + INVOICE_ROW + " currency taxRate seller { name } buyer { name }" +
    " subtotal " + MONEY + " tax " + MONEY + " amountPaid " + MONEY +
    " lines { position description quantity serviceStart serviceEnd unitPrice " + MONEY + " amount " + MONEY + " }" +
    " customFields { key label type value }" +
    " payments { id amount " + MONEY + " method status paidAt reference }" +
    " pdf: downloadUrl(format: PDF) csv: downloadUrl(format: CSV)" +
    " detailed: downloadUrl(format: DETAILED_CSV) html: downloadUrl(format: HTML) } } }";
  const CONVERT = "query Convert($id: ID!, $currency: CurrencyCode!) { node(id: $id) { ... on Invoice {" +
    " total " + MONEY + " convertedTotal(currency: $currency) { amount currency rate rateDate } } } }";
  const STATEMENT = "query Statement($from: Date!, $to: Date!) { viewer { expiresAt " + SELLER +
    " customer { currency statement(from: $from, to: $to) { from to openingBalance " + MONEY +
    " closingBalance " + MONEY + " entries { date kind invoiceId reference debit " + MONEY +
    " credit " + MONEY + " balance " + MONEY + " } pdf: downloadUrl(format: PDF) csv: downloadUrl(format: CSV) } } } }";

  const main = document.getElementById("main");
  const view = document.getElementById("view");
  const outcome = document.getElementById("outcome");
  const loading = document.getElementById("loading");
  const nav = document.getElementById("nav");

  function localDay(offsetMonths, firstOfMonth) {
    const now = new Date();
    const d = new Date(now.getFullYear(), now.getMonth() + (offsetMonths || 0), firstOfMonth ? 1 : now.getDate());
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  // A refusal, in words: a heading that says what happened, what to do, and (while the link
  // still works) the way back.
  function fail(key) {
    loading.hidden = true;
    const stillValid = key === "notYours" || key === "unreachable" || key === "failed";
    if (!stillValid) {
      nav.hidden = true;
      const valid = document.getElementById("link-valid");
      if (valid) { valid.remove(); }
    }
    for (const link of nav.querySelectorAll("a")) { link.removeAttribute("aria-current"); }
    view.replaceChildren(el("h1", { tabindex: "-1" }, t(key + "Title")));
    if (token && stillValid) {
      view.append(el("p", { class: "back" }, el("a", { href: "#/" }, "← " + t("back"))));
    }
    outcome.textContent = t(key);
    outcome.hidden = false;
    document.title = t(key + "Title") + " · " + (sellerName || t("portal"));
    view.querySelector("h1").focus();
  }

  function brand(seller, expiresAt) {
    const holder = document.getElementById("seller");
    sellerName = seller.name;
    // The name is always written out: a logo's own lettering may be too small to read.
    holder.replaceChildren(
      seller.logoDataUri ? el("img", { src: seller.logoDataUri, alt: "", class: "logo" }) : null,
      el("span", { class: "seller-name" }, seller.name));
    const footer = document.getElementById("footer");
    footer.replaceChildren(
      el("p", {}, seller.senderName || seller.name),
      seller.replyTo ? el("p", {}, t("contact"), " ",
        el("a", { href: "mailto:" + seller.replyTo }, seller.replyTo), ".") : null,
      seller.websiteUrl && /^https?:\/\//.test(seller.websiteUrl)
        ? el("p", {}, el("a", { href: seller.websiteUrl, rel: "noopener noreferrer" }, t("website", { name: seller.name }))) : null,
      expiresAt ? el("p", { class: "muted", id: "link-valid" }, t("linkValid", { time: timeFormat.format(new Date(expiresAt)) })) : null,
    );
    nav.hidden = false;
  }

  let sellerName = null;

  function show(title, current, ...content) {
    loading.hidden = true;
    outcome.hidden = true;
    document.title = title + " · " + (sellerName || t("portal"));
    for (const link of nav.querySelectorAll("a")) {
      if (link.id === current) { link.setAttribute("aria-current", "page"); } else { link.removeAttribute("aria-current"); }
    }
    view.replaceChildren(...content);
  }

  function statusBadge(status) {
    return el("span", { class: "status status-" + status.toLowerCase() }, t("status" + status));
  }

  function invoiceLink(invoice) {
    return el("a", { href: "#/invoices/" + encodeURIComponent(invoice.id) },
      t("invoiceNo", { number: invoice.number }),
      el("span", { class: "sub" }, period(invoice.periodStart, invoice.periodEnd)));
  }

  async function home() {
    const body = await api(HOME, { today: localDay(0, false) });
    const viewer = body.data && body.data.viewer;
    if (!viewer || !viewer.customer) { throw new Refused("failed"); }
    brand(viewer.seller, viewer.expiresAt);
    const customer = viewer.customer;
    const aging = customer.statement.aging;
    const owed = Number(customer.balance.amount) > 0;
    const open = body.data.open.edges.map((e) => e.node);
    const history = body.data.history.edges.map((e) => e.node).reverse();
    const bands = ["current", "days1To30", "days31To60", "days61To90", "over90Days"];
    show(t("account"), "nav-account",
      el("h1", { tabindex: "-1" }, t("billingFor", { name: customer.name })),
      el("section", { "aria-labelledby": "balance-title", class: "card" },
        el("h2", { id: "balance-title" }, t("balance")),
        el("p", { class: "balance" }, owed ? t("youOwe", { amount: money(customer.balance) }) : t("nothingOwed")),
        owed ? table(t("agingCaption", { date: day(aging.asOf) }), [t("agingWhen"), t("amount")],
          bands.map((b) => [t(b), money(aging[b])]).concat([[t("total"), money(aging.total)]]), [1]) : null),
      el("section", { "aria-labelledby": "open-title" },
        el("h2", { id: "open-title" }, t("openInvoices")),
        open.length ? table(t("openInvoices"), [t("invoice"), t("due"), t("amountDue")],
          open.map((i) => [invoiceLink(i), day(i.dueDate), money(i.amountDue)]), [2], true)
          : el("p", {}, t("noOpen"))),
      el("section", { "aria-labelledby": "history-title" },
        el("h2", { id: "history-title" }, t("history")),
        history.length ? table(t("history"), [t("invoice"), t("status"), t("total")],
          history.map((i) => [invoiceLink(i), statusBadge(i.status), money(i.total)]), [2], true)
          : el("p", {}, t("noHistory"))));
  }

  function download(url, label, newTab) {
    return el("li", {}, el("a", {
      href: url,
      class: "button",
      rel: "noopener noreferrer",
      target: newTab ? "_blank" : null,
      download: newTab ? null : "",
    }, label, newTab ? el("span", { class: "visually-hidden" }, " " + t("opensNewTab")) : null));
  }

  function dl(pairs) {
    return el("dl", { class: "facts" }, pairs.filter((p) => p[1]).map(([term, value]) =>
      el("div", {}, el("dt", {}, term), el("dd", {}, value))));
  }

  async function invoice(id) {
    const body = await api(INVOICE, { id: id });
    const viewer = body.data && body.data.viewer;
    if (viewer && viewer.seller) { brand(viewer.seller, viewer.expiresAt); }
    const found = body.data && body.data.node;
    if (!found || !found.id) { throw new Refused("notYours"); }
    const invoiceNumber = found.number;
    const fields = found.customFields.filter((f) => f.value !== null && f.value !== "");
    const statusDate = found.status === "CLOSED" ? [t("paidOn"), day(found.closedAt)]
      : found.status === "VOID" ? [t("voidedOn"), day(found.voidedAt)] : [null, null];
    const targets = CONVERT_TO.filter((c) => c !== found.currency);
    const result = el("p", { id: "converted", class: "converted", role: "status" });
    const select = el("select", { id: "convert-to", name: "currency" },
      targets.map((c) => el("option", { value: c }, c)));
    const form = el("form", { class: "inline", id: "convert-form" },
      el("label", { for: "convert-to" }, t("showIn")),
      el("div", { class: "row" }, select, el("button", { type: "submit" }, t("convert"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const quote = select.value;
      result.textContent = t("loading");
      try {
        const converted = await api(CONVERT, { id: id, currency: quote });
        const node = converted.data && converted.data.node;
        const value = node && node.convertedTotal;
        if (!value) {
          result.textContent = t("noRate", { base: found.currency, quote: quote });
          return;
        }
        result.textContent = t("converted", {
          amount: money({ amount: value.amount, currency: value.currency }),
          rate: number(value.rate), quote: value.currency, base: found.currency, date: day(value.rateDate),
        });
      } catch (error) {
        handle(error);
      }
    });
    show(t("invoiceNo", { number: invoiceNumber }), null,
      el("p", { class: "back" }, el("a", { href: "#/" }, "← " + t("back"))),
      el("h1", { tabindex: "-1" }, t("invoiceNo", { number: invoiceNumber }), " ", statusBadge(found.status)),
      el("section", { "aria-labelledby": "facts-title" },
        el("h2", { id: "facts-title", class: "visually-hidden" }, t("details")),
        dl([
          [t("billedBy"), found.seller.name],
          [t("billedTo"), found.buyer.name],
          [t("period"), period(found.periodStart, found.periodEnd)],
          [t("issued"), day(found.issuedAt)],
          [t("dueDate"), day(found.dueDate)],
          statusDate,
        ].concat(fields.map((f) => [f.label, f.type === "DATE" ? day(f.value) : f.value])))),
      el("section", { "aria-labelledby": "lines-title" },
        el("h2", { id: "lines-title" }, t("lines")),
        table(t("lines"), [t("description"), t("amount")], found.lines.map((line) => [
          el("span", {}, line.description,
            el("span", { class: "sub" }, t("quantityTimes", { quantity: number(line.quantity), price: money(line.unitPrice, true) }))),
          money(line.amount),
        ]), [1], true),
        el("table", { class: "totals" },
          el("caption", { class: "visually-hidden" }, t("total")),
          el("tbody", {},
            [[t("subtotal"), money(found.subtotal)],
              [t("tax", { rate: number(found.taxRate) }), money(found.tax)],
              [t("total"), money(found.total)],
              [t("paid"), money(found.amountPaid)],
              [t("amountDue"), money(found.amountDue)]].map(([label, value]) =>
              el("tr", {}, el("th", { scope: "row" }, label), el("td", { class: "num" }, value)))))),
      el("section", { "aria-labelledby": "payments-title" },
        el("h2", { id: "payments-title" }, t("payments")),
        found.payments.length ? table(t("payments"), [t("date"), t("status"), t("amount")],
          found.payments.map((p) => [
            el("span", {}, day(p.paidAt), el("span", { class: "sub" }, t("method" + p.method))),
            t("payment" + p.status), money(p.amount)]), [2], true)
          : el("p", {}, t("noPayments"))),
      el("section", { "aria-labelledby": "downloads-title" },
        el("h2", { id: "downloads-title" }, t("downloads")),
        el("ul", { class: "downloads" },
          download(found.pdf, t("pdf")),
          download(found.csv, t("csv")),
          download(found.detailed, t("detailedCsv")),
          download(found.html, t("print"), true))),
      el("section", { "aria-labelledby": "currency-title" },
        el("h2", { id: "currency-title" }, t("currencyView")),
        form, result));
  }

  function statementForm(from, to) {
    const form = el("form", { id: "statement-form", class: "period" },
      el("div", { class: "field" }, el("label", { for: "from" }, t("from")),
        el("input", { id: "from", name: "from", type: "date", value: from, required: true })),
      el("div", { class: "field" }, el("label", { for: "to" }, t("to")),
        el("input", { id: "to", name: "to", type: "date", value: to, required: true })),
      el("div", { class: "field" }, el("button", { type: "submit" }, t("show"))));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const start = form.elements.from.value;
      const end = form.elements.to.value;
      window.location.hash = "#/statements/" + start + "/" + end;
    });
    return form;
  }

  async function statement(from, to) {
    if (from > to) {
      show(t("statementTitle"), "nav-statements",
        el("h1", { tabindex: "-1" }, t("statementTitle")),
        el("p", { class: "lead" }, t("statementLead")),
        el("p", { class: "message error", role: "alert" }, t("badPeriod")),
        statementForm(from, to));
      return;
    }
    const body = await api(STATEMENT, { from: from, to: to });
    const viewer = body.data && body.data.viewer;
    if (!viewer || !viewer.customer || !viewer.customer.statement) { throw new Refused("failed"); }
    brand(viewer.seller, viewer.expiresAt);
    const found = viewer.customer.statement;
    // Three columns, to fit a phone: what happened (and when), what it changed, the balance.
    const rows = found.entries.map((e) => {
      const credit = Number(e.credit.amount) !== 0;
      return [
        el("span", {},
          el("a", { href: "#/invoices/" + encodeURIComponent(e.invoiceId) }, t("entry" + e.kind, { reference: e.reference })),
          el("span", { class: "sub" }, day(e.date))),
        credit ? el("span", { class: "credit" }, "−" + money(e.credit)) : money(e.debit),
        money(e.balance),
      ];
    });
    show(t("statementTitle"), "nav-statements",
      el("h1", { tabindex: "-1" }, t("statementTitle")),
      el("p", { class: "lead" }, t("statementLead")),
      statementForm(found.from, found.to),
      el("section", { "aria-labelledby": "statement-title" },
        el("h2", { id: "statement-title" }, t("statementFor", { from: day(found.from), to: day(found.to) })),
        dl([[t("opening"), money(found.openingBalance)], [t("closing"), money(found.closingBalance)]]),
        rows.length ? table(t("statementFor", { from: day(found.from), to: day(found.to) }),
          [t("entry"), t("change"), t("runningBalance")], rows, [1, 2], true)
          : el("p", {}, t("noEntries")),
        el("h3", {}, t("downloads")),
        el("ul", { class: "downloads" },
          download(found.pdf, t("pdf")),
          download(found.csv, t("csv")))));
  }

  // Download links are signed for 15 minutes: one clicked on a view older than that is asked for
  // afresh (the view is read again), then followed.
  const LINK_FRESH_MS = 10 * 60 * 1000;
  let renderedAt = Date.now();

  view.addEventListener("click", async (event) => {
    const link = event.target.closest(".downloads a");
    if (!link || Date.now() - renderedAt < LINK_FRESH_MS) { return; }
    event.preventDefault();
    const label = link.textContent;
    await route();
    const fresh = [...view.querySelectorAll(".downloads a")].find((a) => a.textContent === label);
    if (fresh) { fresh.click(); }
  });

  function handle(error) {
    fail(error instanceof Refused ? error.key : "failed");
  }

  async function route() {
    if (/(^#|&)token=/.test(window.location.hash)) { token = readToken(); }
    if (!token) { fail("noToken"); return; }
    const path = window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    try {
      if (path[0] === "invoices" && path[1]) {
        await invoice(path[1]);
      } else if (path[0] === "statements") {
        const valid = (d) => /^\d{4}-\d{2}-\d{2}$/.test(d || "");
        await statement(valid(path[1]) ? path[1] : localDay(-3, true), valid(path[2]) ? path[2] : localDay(0, false));
      } else {
        await home();
      }
      renderedAt = Date.now();
      const heading = view.querySelector("h1");
      if (heading && routed) { heading.focus(); }
    } catch (error) {
      handle(error);
    }
  }

  let routed = false;
  document.documentElement.lang = lang;
  document.title = t("portal");
  document.getElementById("seller").textContent = t("portal");
  nav.setAttribute("aria-label", t("navLabel"));
  document.getElementById("nav-account").textContent = t("account");
  document.getElementById("nav-statements").textContent = t("statements");
  loading.textContent = t("loading");
  window.addEventListener("hashchange", () => { routed = true; route(); });
  route();
})();
