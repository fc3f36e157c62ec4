// Runs the graphql-http server audit (GraphQL over HTTP spec conformance) against the URL
// given as the first argument and prints one JSON array: {id, name, status, reason?, body?}
// per audit. Driven by tests/test_graphql_over_http.py, which asserts every status is "ok".
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://host:port/graphql');
  process.exit(2);
}

const results = await auditServer({ url });
const report = await Promise.all(
  results.map(async (result) => {
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.httpStatus = result.response.status;
      entry.contentType = result.response.headers.get('content-type');
      entry.body = await result.response.text().catch(() => '<unreadable>');
    }
    return entry;
  }),
);
console.log(JSON.stringify(report));
