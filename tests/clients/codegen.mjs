// graphql-codegen's client preset over operations/*.graphql, as a control panel would set it up.
// CODEGEN_SCHEMA and CODEGEN_OUT say where to read the SDL and write the code (the test uses a
// temporary directory); every custom scalar's TypeScript type comes from scalars.json, which a test
// keeps in step with schema.graphql, so strictScalars never meets a scalar it does not know.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const scalars = JSON.parse(readFileSync(join(here, "scalars.json"), "utf8"));
const out = process.env.CODEGEN_OUT ?? join(here, "generated");

export default {
  schema: process.env.CODEGEN_SCHEMA ?? join(here, "..", "..", "schema.graphql"),
  documents: [join(here, "operations", "*.graphql")],
  ignoreNoDocuments: false,
  generates: {
    [`${out}/gql/`]: {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: { strictScalars: true, scalars, enumsAsTypes: true, useTypeImports: true },
    },
  },
};
