// graphql-inspector's diff between two schemas, each an SDL file or a server's URL (read by
// introspection, as a client's tooling reads it). Prints the changes as JSON, one object each:
// {type, level (BREAKING, DANGEROUS or NON_BREAKING), path, message}.
//
// Introspection does not carry where directives are applied (@billingAccess on a field,
// @specifiedBy on a scalar: only its URL), so when either side is a URL both sides are compared as
// introspection shows them: an SDL file is turned into its introspection result first. Two files are
// compared as SDL, directive usages included.
//
// A server answers introspection only to a signed-in caller: SCHEMA_TOKEN is the bearer token.
//
//   node schema_diff.mjs <old> <new>
//   e.g. node schema_diff.mjs <(git show main:schema.graphql) ../../schema.graphql
import { readFileSync } from "node:fs";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  introspectionFromSchema,
} from "graphql";
import { diff } from "@graphql-inspector/core";

const INTROSPECTION = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  inputValueDeprecation: true,
};
const isUrl = (source) => /^https?:/.test(source);

async function load(source, introspected) {
  if (!isUrl(source)) {
    const schema = buildSchema(readFileSync(source, "utf8"));
    return introspected ? buildClientSchema(introspectionFromSchema(schema, INTROSPECTION)) : schema;
  }
  const response = await fetch(source, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(process.env.SCHEMA_TOKEN ? { authorization: `Bearer ${process.env.SCHEMA_TOKEN}` } : {}),
    },
    body: JSON.stringify({ query: getIntrospectionQuery(INTROSPECTION) }),
  });
  const body = await response.json();
  if (!body.data) throw new Error(`introspection failed: ${JSON.stringify(body.errors)}`);
  return buildClientSchema(body.data);
}

const [before, after] = process.argv.slice(2);
if (!before || !after) {
  console.error("usage: node schema_diff.mjs <old SDL file or URL> <new SDL file or URL>");
  process.exit(2);
}
const introspected = isUrl(before) || isUrl(after);
const changes = await diff(await load(before, introspected), await load(after, introspected));
const report = changes.map((change) => ({
  type: change.type,
  level: change.criticality.level,
  path: change.path ?? null,
  message: change.message,
}));
console.log(JSON.stringify(report, null, 2));
