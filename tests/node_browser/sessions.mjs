// A single-page app's session in a real browser, from a page of the server's own origin:
// sign in with the refresh token in the cookie, reload (the access token, kept in memory,
// is gone), refresh with the cookie, sign out, and see the cookie refresh nothing more.
// Usage: node sessions.mjs <server url> <username> <password> <fresh profile dir>
import { openBrowser, report } from "./browser.mjs";

const [server, username, password, profile] = process.argv.slice(2);
const { context, page, record } = await openBrowser(profile);
const result = { ...record };

// run in the page: fetch as an SPA would (same origin, so the cookie goes along)
function gql(args) {
  return page.evaluate(async ({ query, variables, headers }) => {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return response.json();
  }, args);
}
const PREFLIGHT = { "Apollo-Require-Preflight": "true" };
const REFRESH = "mutation { refreshSession { accessToken refreshToken errors { code } } }";

try {
  await page.goto(`${server}/graphql`, { waitUntil: "load" });
  result.login = await gql({
    query: `mutation($u: String!, $p: String!) { login(username: $u, password: $p,
      refreshTokenInCookie: true) { accessToken refreshToken errors { code } } }`,
    variables: { u: username, p: password },
  });
  result.scriptSeesCookie = await page.evaluate(() => document.cookie.includes("stridegraph_refresh"));
  result.cookies = await context.cookies();

  await page.reload({ waitUntil: "load" });
  result.refreshWithoutHeader = await gql({ query: REFRESH });
  result.refresh = await gql({ query: REFRESH, headers: PREFLIGHT });
  const access = result.refresh.data?.refreshSession?.accessToken;
  result.me = await gql({ query: "{ me { username } }", headers: { Authorization: `Bearer ${access}` } });

  result.logout = await gql({ query: "mutation { logout { errors { code } } }", headers: PREFLIGHT });
  result.cookiesAfterLogout = await context.cookies();
  result.meAfterLogout = await gql({ query: "{ me { username } }", headers: { Authorization: `Bearer ${access}` } });
  result.refreshAfterLogout = await gql({ query: REFRESH, headers: PREFLIGHT });
} catch (error) {
  result.failure = String(error && error.stack ? error.stack : error);
} finally {
  await context.close();
}
report(result);
