// Compiled with `tsc --strict` next to the code graphql-codegen generates from operations/: the
// typed results must be usable as a control panel uses them, and wrong uses must not compile
// (each @ts-expect-error fails the build when its line stops being an error, e.g. if a scalar
// became `any`).
import { ApolloClient, InMemoryCache, HttpLink } from "@apollo/client";
import type { ErrorLike } from "@apollo/client";
import {
  CustomerInvoicesDocument,
  CustomersDocument,
  InvoiceDocument,
  UpdateCustomerDocument,
  ViewerDocument,
} from "./gql/graphql";
import type {
  CustomerInvoicesQuery,
  CustomerRowFragment,
  CustomersQuery,
  InvoiceQuery,
  InvoiceStatus,
  ViewerQuery,
} from "./gql/graphql";

export function greeting(data: ViewerQuery): string {
  const user = data.viewer.user;
  // the user is null for API clients and portals: it must be checked first
  // @ts-expect-error
  const unchecked: string = data.viewer.user.name;
  void unchecked;
  return user ? `${user.name} (${user.role}) at ${data.viewer.reseller?.name ?? "the platform"}` : "";
}

export function rows(customers: readonly CustomerRowFragment[]): string[] {
  return customers.map((c) => {
    // Decimal is a string: arithmetic on it is a type error
    // @ts-expect-error
    const rate: number = c.taxRate;
    void rate;
    return `${c.name} <${c.email}> ${c.currency} ${c.taxRate}% since ${c.createdAt.slice(0, 10)}`;
  });
}

export function invoiceTotals(data: CustomerInvoicesQuery): string[] {
  // invoices is a billing field: null without billing access
  const invoices = data.invoices?.edges ?? [];
  return invoices.map(({ node }) => {
    const status: InvoiceStatus = node.status;
    // @ts-expect-error: not an InvoiceStatus
    const wrong: InvoiceStatus = "PAID";
    void wrong;
    return `${node.number ?? "draft"} ${status} ${node.buyer.name} ${node.total.formatted}`;
  });
}

export function balance(data: CustomerInvoicesQuery): string | null {
  const node = data.node;
  if (node?.__typename !== "Customer") return null;
  return node.balance?.formatted ?? null;
}

export function lineSum(data: InvoiceQuery): string {
  if (data.node?.__typename !== "Invoice") return "";
  const cents = data.node.lines.reduce(
    (sum, line) => sum + Math.round(Number(line.amount.amount) * 100),
    0,
  );
  return `${(cents / 100).toFixed(2)} of ${data.node.subtotal.amount}`;
}

async function customersPage(
  client: ApolloClient,
  after: string | null | undefined,
): Promise<CustomersQuery["customers"] | undefined> {
  const page = await client.query({ query: CustomersDocument, variables: { first: 2, after } });
  return page.data?.customers;
}

export async function firstPages(uri: string, token: string): Promise<string[]> {
  const client = new ApolloClient({
    link: new HttpLink({ uri, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache(),
  });
  const viewer = await client.query({ query: ViewerDocument });
  const names: string[] = viewer.data ? [greeting(viewer.data)] : [];
  let after: string | null | undefined = null;
  for (;;) {
    const customers = await customersPage(client, after);
    if (!customers) break;
    names.push(...rows(customers.edges.map((edge) => edge.node)));
    if (!customers.pageInfo.hasNextPage) break;
    after = customers.pageInfo.endCursor;
  }
  // @ts-expect-error: first is required
  await client.query({ query: CustomersDocument, variables: {} });
  const renamed = await client.mutate({
    mutation: UpdateCustomerDocument,
    variables: { input: { customerId: "Q3VzdG9tZXI6MQ==", name: "Renamed" } },
  });
  const payload = renamed.data?.updateCustomer;
  names.push(...(payload?.errors.map((e) => `${e.code} ${e.field ?? ""}`) ?? []));
  const member = await client.query({
    query: CustomerInvoicesDocument,
    variables: { customerId: "Q3VzdG9tZXI6MQ==", first: 10 },
    errorPolicy: "all",
  });
  const error: ErrorLike | undefined = member.error;
  if (member.data) names.push(...invoiceTotals(member.data));
  if (error) names.push(error.message);
  const invoice = await client.query({ query: InvoiceDocument, variables: { id: "x" } });
  if (invoice.data) names.push(lineSum(invoice.data));
  return names;
}
