// Apollo Client 4 with its PersistedQueryLink (hashed queries over GET) against stridegraph,
// driven line by line on stdin by tests/test_persisted_queries.py, so one client (one link,
// with its state) can outlive a server restart:
//   url <http://host:port/graphql>   -> the server to talk to from now on; prints {"ok":true}
//   query                            -> runs QUERY (network only); prints {"data":..} or {"error":..}
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const QUERY = gql`
  query SignupSetting {
    serverSettings {
      signupEnabled
    }
  }
`;

let url = null;
const persisted = new PersistedQueryLink({
  sha256: (text) => createHash('sha256').update(text).digest('hex'),
  useGETForHashedQueries: true,
});
const client = new ApolloClient({
  link: persisted.concat(new HttpLink({ uri: () => url })),
  cache: new InMemoryCache(),
});

const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.trim().split(/\s+/, 2);
  if (command === 'url') {
    url = argument;
    say({ ok: true });
  } else if (command === 'query') {
    try {
      const result = await client.query({ query: QUERY, fetchPolicy: 'network-only' });
      say({ data: result.data, error: result.error ? String(result.error) : null });
    } catch (error) {
      say({ data: null, error: String(error) });
    }
  } else {
    say({ error: `unknown command ${command}` });
  }
}
