// A `deployment_protection_rule` delivery as GitHub sends it, from GitHub's own published
// parts: @octokit/webhooks-examples (7.6.1) records no example of this event, so its recorded
// `deployment` events lend the deployment, and its other recordings the repository, sender,
// installation and organization; the envelope follows the event's schema, and
// @octokit/webhooks-schemas (ajv, every format checked) must accept the result. The body is signed by @octokit/webhooks-methods, GitHub's
// own signer. Prints {"body": …, "signature": …, "schema": "ok"}.
//
// Usage: node github-protection.mjs <webhook-secret> <api-url> <run-id> <created-at>
import fs from "node:fs";
import { createRequire } from "node:module";
import { sign, verify } from "@octokit/webhooks-methods";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const [secret, api, run, createdAt] = process.argv.slice(2);
const examples = require("@octokit/webhooks-examples");
const schema = JSON.parse(
  fs.readFileSync(require.resolve("@octokit/webhooks-schemas/schema.json"), "utf8"),
);

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema, "webhooks");
const matches = (definition, value) =>
  value !== undefined && ajv.validate({ $ref: `webhooks#/definitions/${definition}` }, value);

// Recorded examples predate some of the schema's newer required fields: take each part from
// the first recorded example whose part the current schema accepts.
const recorded = examples.flatMap((e) => e.examples);
const deployment = examples
  .filter((e) => e.name === "deployment")
  .flatMap((e) => e.examples)
  .map((x) => x.deployment)
  .find((d) => matches("deployment", d));
const owner = recorded.find(
  (x) =>
    matches("repository", x.repository) &&
    matches("user", x.sender) &&
    matches("installation-lite", x.installation) &&
    matches("organization", x.organization),
);
if (!deployment || !owner) {
  console.error("no recorded deployment, or repository with its sender, installation and organization, matches the schema");
  process.exit(1);
}
const repository = owner.repository;
const payload = {
  action: "requested",
  environment: deployment.environment,
  event: "push",
  deployment_callback_url: `${api}/repos/${repository.full_name}/actions/runs/${run}/deployment_protection_rule`,
  deployment: { ...deployment, created_at: createdAt, updated_at: createdAt },
  repository,
  sender: owner.sender,
  installation: owner.installation,
  organization: owner.organization,
};

const valid = ajv.validate({ $ref: "webhooks#/definitions/deployment_protection_rule$requested" }, payload);
if (!valid) {
  console.error(JSON.stringify(ajv.errors, null, 1));
  process.exit(1);
}
const body = JSON.stringify(payload);
const signature = await sign(secret, body);
if (!(await verify(secret, body, signature))) process.exit(2);
process.stdout.write(JSON.stringify({ body, signature, schema: "ok" }) + "\n");
