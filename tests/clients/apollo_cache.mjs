// Apollo Client with a normalized InMemoryCache, driven through a control panel's operations
// against a live server. For every check it prints what came over the wire next to what the
// cache (cache.readQuery) and a watched query give back, so a test can assert they agree: a type
// whose identity the cache gets wrong (an `id` that is not the object's own) shows up here as
// cache != wire.
//
//   CHANNELBILL_URL=http://127.0.0.1:8000 OWNER_TOKEN=… MEMBER_TOKEN=… node apollo_cache.mjs
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";
import { Kind, parse, visit } from "graphql";
import { map } from "rxjs";

const here = dirname(fileURLToPath(import.meta.url));
const url = `${process.env.CHANNELBILL_URL}/graphql`;

// operations/*.graphql, one document per operation with only the fragments it uses (the server
// refuses unused fragments, as the spec says).
const definitions = parse(
  readdirSync(join(here, "operations"))
    .filter((name) => name.endsWith(".graphql"))
    .map((name) => readFileSync(join(here, "operations", name), "utf8"))
    .join("\n"),
).definitions;
const fragments = new Map(
  definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
);

function operation(name) {
  const root = definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
  if (!root) throw new Error(`no operation ${name} in operations/`);
  const used = new Map();
  const collect = (node) =>
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        if (!used.has(name)) {
          used.set(name, fragments.get(name));
          collect(fragments.get(name));
        }
      },
    });
  collect(root);
  return { kind: Kind.DOCUMENT, definitions: [root, ...used.values()] };
}

const Q = Object.fromEntries(
  [
    "Viewer",
    "Customers",
    "CustomerInvoices",
    "Invoice",
    "UpdateCustomer",
    "GenerateInvoices",
    "NotificationSettings",
  ].map(
    (name) => [name, operation(name)],
  ),
);

// Every request as sent: APQ sends a hash alone first, and the query text only on a miss.
const requests = [];
async function countingFetch(input, init) {
  requests.push(JSON.parse(init.body));
  return fetch(input, init);
}

// relayStylePagination keeps a connection that came back null (a billing connection without billing
// access) as an empty page without totalCount, so reading the query back fails: a null stays null.
function nullableConnection(keyArgs) {
  const policy = relayStylePagination(keyArgs);
  return {
    ...policy,
    read: (existing, options) => (existing === null ? null : policy.read(existing, options)),
    merge: (existing, incoming, options) =>
      incoming === null ? null : policy.merge(existing ?? undefined, incoming, options),
  };
}

function makeClient(token) {
  const wire = [];
  const record = new ApolloLink((op, forward) =>
    forward(op).pipe(
      map((result) => {
        wire.push({ operationName: op.operationName, variables: op.variables, result });
        return result;
      }),
    ),
  );
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
  });
  const http = new HttpLink({
    uri: url,
    headers: { authorization: `Bearer ${token}` },
    fetch: countingFetch,
  });
  const cache = new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          customers: relayStylePagination(["search", "status"]),
          invoices: nullableConnection(["filter"]),
        },
      },
    },
  });
  const client = new ApolloClient({ link: ApolloLink.from([record, persisted, http]), cache });
  const lastWire = (operationName) => wire.filter((w) => w.operationName === operationName).at(-1).result;
  return { client, cache, lastWire };
}

// A watched query's latest value, once it has one from the cache or the network.
function watch(client, options) {
  const observable = client.watchQuery(options);
  const values = [];
  const subscription = observable.subscribe((value) => values.push(value));
  return {
    observable,
    latest: () => values.at(-1)?.data,
    stop: () => subscription.unsubscribe(),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
const checks = [];
const facts = {};
const check = (name, wire, cache, watched) => checks.push({ name, wire, cache, watched: watched ?? cache });

const owner = makeClient(process.env.OWNER_TOKEN);

// the page header
await owner.client.query({ query: Q.Viewer });
check("viewer", owner.lastWire("Viewer").data, owner.cache.readQuery({ query: Q.Viewer }));

// the customer list, two at a time, every page through fetchMore into one list
const listVariables = { first: 2 };
const list = watch(owner.client, { query: Q.Customers, variables: listVariables });
await list.observable.refetch();
const wireEdges = [...owner.lastWire("Customers").data.customers.edges];
let pages = 1;
while (owner.lastWire("Customers").data.customers.pageInfo.hasNextPage) {
  const after = owner.lastWire("Customers").data.customers.pageInfo.endCursor;
  await list.observable.fetchMore({ variables: { after } });
  wireEdges.push(...owner.lastWire("Customers").data.customers.edges);
  pages += 1;
}
await settle();
const lastPage = owner.lastWire("Customers").data.customers;
const listView = (customers) => ({
  totalCount: customers.totalCount,
  hasNextPage: customers.pageInfo.hasNextPage,
  endCursor: customers.pageInfo.endCursor,
  edges: customers.edges,
});
check(
  "customers, every page",
  listView({ ...lastPage, edges: wireEdges }),
  listView(owner.cache.readQuery({ query: Q.Customers, variables: listVariables }).customers),
  listView(list.latest().customers),
);
facts.pages = pages;
facts.customers = wireEdges.length;

// a customer's page: Northwind's invoices, with their parties and totals
const northwind = wireEdges.find((edge) => edge.node.name.startsWith("Northwind Traders")).node;
const pageVariables = { customerId: northwind.id, first: 20 };
const page = watch(owner.client, { query: Q.CustomerInvoices, variables: pageVariables });
await page.observable.refetch();
await settle();
check(
  "customer invoices",
  owner.lastWire("CustomerInvoices").data,
  owner.cache.readQuery({ query: Q.CustomerInvoices, variables: pageVariables }),
  page.latest(),
);
const invoiceId = owner.lastWire("CustomerInvoices").data.invoices.edges[0].node.id;
await owner.client.query({ query: Q.Invoice, variables: { id: invoiceId } });
check(
  "invoice detail",
  owner.lastWire("Invoice").data,
  owner.cache.readQuery({ query: Q.Invoice, variables: { id: invoiceId } }),
);
await owner.client.query({ query: Q.NotificationSettings });
check(
  "notification settings",
  owner.lastWire("NotificationSettings").data,
  owner.cache.readQuery({ query: Q.NotificationSettings }),
);

// rename the customer: the cache updates Customer:<id> everywhere, and the invoices' parties stay
// what each invoice says (a snapshot), exactly as the server answers when asked again
const newName = `Northwind Traders ${Date.now()}`;
const renamed = await owner.client.mutate({
  mutation: Q.UpdateCustomer,
  variables: { input: { customerId: northwind.id, name: newName } },
});
facts.renameErrors = renamed.data.updateCustomer.errors;
facts.newName = newName;
await settle();
const afterRename = owner.cache.readQuery({ query: Q.CustomerInvoices, variables: pageVariables });
const watchedAfterRename = page.latest();
await owner.client.query({ query: Q.CustomerInvoices, variables: pageVariables, fetchPolicy: "network-only" });
await settle();
check("customer invoices after rename, before refetch", owner.lastWire("CustomerInvoices").data, afterRename, watchedAfterRename);
check(
  "customer invoices after rename, refetched",
  owner.lastWire("CustomerInvoices").data,
  owner.cache.readQuery({ query: Q.CustomerInvoices, variables: pageVariables }),
  page.latest(),
);
await owner.client.query({ query: Q.Invoice, variables: { id: invoiceId }, fetchPolicy: "network-only" });
check(
  "invoice detail after rename",
  owner.lastWire("Invoice").data,
  owner.cache.readQuery({ query: Q.Invoice, variables: { id: invoiceId } }),
);
// bill this month under the new name: the page then lists invoices naming the buyer by either
// name, and the cache must keep each invoice's own
const today = new Date();
const monthStart = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
const monthEnd = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + 1, 0));
const generated = await owner.client.mutate({
  mutation: Q.GenerateInvoices,
  variables: {
    input: {
      periodStart: monthStart.toISOString().slice(0, 10),
      periodEnd: monthEnd.toISOString().slice(0, 10),
      customerIds: [northwind.id],
    },
  },
});
facts.generated = generated.data.generateInvoices.invoices.length;
facts.generateErrors = generated.data.generateInvoices.errors;
await owner.client.query({ query: Q.CustomerInvoices, variables: pageVariables, fetchPolicy: "network-only" });
await settle();
check(
  "customer invoices under both names",
  owner.lastWire("CustomerInvoices").data,
  owner.cache.readQuery({ query: Q.CustomerInvoices, variables: pageVariables }),
  page.latest(),
);
const firstPage = owner.cache.readQuery({ query: Q.Customers, variables: listVariables }).customers;
await owner.client.query({ query: Q.Customers, variables: { first: 100 }, fetchPolicy: "network-only" });
check(
  "customers after rename",
  owner.lastWire("Customers").data.customers.edges.slice(0, firstPage.edges.length),
  firstPage.edges,
  list.latest().customers.edges,
);
list.stop();
page.stop();

// a member without billing access: the same page comes back with the billing fields null and a
// field error for each, and the cache keeps the rest
const member = makeClient(process.env.MEMBER_TOKEN);
const memberResult = await member.client.query({
  query: Q.CustomerInvoices,
  variables: pageVariables,
  errorPolicy: "all",
});
const memberWire = member.lastWire("CustomerInvoices");
check(
  "member's customer page",
  memberWire.data,
  member.cache.readQuery({ query: Q.CustomerInvoices, variables: pageVariables }),
  memberResult.data,
);
facts.member = {
  data: memberResult.data,
  errorName: memberResult.error?.name ?? null,
  errors: (memberResult.error?.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.code })),
  wireErrors: (memberWire.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.code })),
};
facts.hashOnlyRequests = requests.filter((r) => r.extensions?.persistedQuery && !r.query).length;
facts.requests = requests.length;

console.log(JSON.stringify({ checks, facts }, null, 2));
