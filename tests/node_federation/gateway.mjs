// An Apollo gateway joining stridegraph ("accounts") and the workouts subgraph, as a
// deployment would put stridegraph behind one (README, "Federation").
//
// Usage: PORT=4000 ACCOUNTS_URL=http://127.0.0.1:8000/graphql WORKOUTS_URL=http://127.0.0.1:4001/
//        GATEWAY_SECRET=<STRIDEGRAPH_GATEWAY_SECRET> node gateway.mjs
// - The supergraph is composed once at start from the subgraphs' `_service { sdl }`
//   (IntrospectAndCompose). With introspection off, stridegraph gives its SDL only to a
//   request carrying X-Gateway-Secret, so that header goes to stridegraph's schema load only.
// - The client's Authorization header is forwarded to every subgraph fetch: stridegraph
//   decides what the viewer sees, for its own fields and for the users behind _entities.
// - So is the client's address, appended to X-Forwarded-For: with the gateway in
//   STRIDEGRAPH_TRUSTED_PROXIES, stridegraph's per-address login limits and its logs see the
//   client, not the gateway.
// - One JSON line {"msg":"composed","hints":[...]} says what composition had to say.
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { composeServices } from '@apollo/composition';

const ACCOUNTS = 'accounts';
const subgraphs = [
  { name: ACCOUNTS, url: process.env.ACCOUNTS_URL },
  { name: 'workouts', url: process.env.WORKOUTS_URL },
];
const secret = process.env.GATEWAY_SECRET;

class ReportedCompose extends IntrospectAndCompose {
  // Composition's hints are otherwise dropped; the tests insist there are none.
  createSupergraphFromSubgraphList(definitions) {
    const { hints = [] } = composeServices(definitions);
    console.log(JSON.stringify({ msg: 'composed', hints: hints.map((h) => h.toString()) }));
    return super.createSupergraphFromSubgraphList(definitions);
  }
}

class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context?.authorization) {
      request.http.headers.set('authorization', context.authorization);
    }
    if (context?.forwardedFor) {
      request.http.headers.set('x-forwarded-for', context.forwardedFor);
    }
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: new ReportedCompose({
    subgraphs,
    introspectionHeaders: (service) =>
      service.name === ACCOUNTS && secret ? { 'x-gateway-secret': secret } : {},
  }),
  buildService: ({ url }) => new ForwardingDataSource({ url }),
});

const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
const { url } = await startStandaloneServer(server, {
  listen: { host: '127.0.0.1', port: Number(process.env.PORT) },
  context: async ({ req }) => ({
    authorization: req.headers.authorization,
    forwardedFor: [req.headers['x-forwarded-for'], req.socket.remoteAddress]
      .filter(Boolean)
      .join(', '),
  }),
});
console.log(JSON.stringify({ msg: 'gateway ready', url }));
