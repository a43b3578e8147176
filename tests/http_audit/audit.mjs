// Runs graphql-http's GraphQL-over-HTTP server audit against the URL given as the only argument
// and prints one JSON array: {id, name, status, reason} per audit (status ok, notice, warn, error).
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <url of the GraphQL endpoint>");
  process.exit(2);
}
const results = await auditServer({ url });
const report = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    entry.reason = result.reason;
    // The failing response, for the test's message: enough to see what the server answered.
    const response = result.response;
    entry.response = {
      status: response.status,
      contentType: response.headers.get("content-type"),
      body: await response.text().then((text) => text.slice(0, 500), () => "(already read)"),
    };
  }
  report.push(entry);
}
process.stdout.write(JSON.stringify(report));
