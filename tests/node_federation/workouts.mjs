// A tiny workouts subgraph for the federation tests (tests/test_federation_gateway.py): it
// extends stridegraph's User (key id) with `workouts`, and its root `workouts` query returns
// workouts whose `user` is a reference the gateway resolves through stridegraph's _entities.
//
// Usage: PORT=4001 WORKOUTS='[{"id":"w1","title":"Run","userId":"<User global id>"}]' node workouts.mjs
// The workouts are the test's fixture data: this subgraph stores nothing and checks no
// credentials (who may see which user is stridegraph's business, through the gateway).
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Workout {
    id: ID!
    title: String!
    "Null when the viewer may not see the workout's user (stridegraph decides)."
    user: User
  }

  type User @key(fields: "id") {
    id: ID!
    workouts: [Workout!]!
  }

  type Query {
    workouts: [Workout!]!
  }
`);

const workouts = JSON.parse(process.env.WORKOUTS ?? '[]');
const ofUser = (id) => workouts.filter((w) => w.userId === id);

const resolvers = {
  Query: { workouts: () => workouts },
  Workout: { user: (w) => ({ __typename: 'User', id: w.userId }) },
  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    workouts: (user) => ofUser(user.id),
  },
};

const server = new ApolloServer({
  schema: buildSubgraphSchema({ typeDefs, resolvers }),
  includeStacktraceInErrorResponses: false,
});
const { url } = await startStandaloneServer(server, {
  listen: { host: '127.0.0.1', port: Number(process.env.PORT) },
});
console.log(JSON.stringify({ msg: 'workouts subgraph ready', url }));
