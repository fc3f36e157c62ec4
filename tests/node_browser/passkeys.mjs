// Passkeys in a real browser: Chromium's own WebAuthn implementation, with a CDP virtual
// authenticator (CTAP2, internal, resident keys, user verification), on a small page the
// test serves at the real server's origin. The page registers a passkey and signs in with
// it (without and with a username) by calling the GraphQL mutations with
// navigator.credentials, exactly as a single-page app would.
// Usage: node passkeys.mjs <server url> <access token> <username> <fresh profile dir>
import { openBrowser, report } from "./browser.mjs";

const [server, token, username, profile] = process.argv.slice(2);
const { context, page, record } = await openBrowser(profile);
const result = { ...record };

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>passkey test</title></head>
<body><p>passkey test page</p>
<script>
const b64u = {
  decode(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    return btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  },
};
async function gql(query, variables, bearer) {
  const headers = { "content-type": "application/json" };
  if (bearer) headers.Authorization = "Bearer " + bearer;
  const response = await fetch("/graphql", {
    method: "POST", headers, body: JSON.stringify({ query, variables }),
  });
  return response.json();
}
// The browser's own JSON forms when it has them (PublicKeyCredential.parse*OptionsFromJSON,
// credential.toJSON()), so the test proves the options and answers are the standard ones.
const native = typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";
function creationOptions(json) {
  if (native) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: b64u.decode(json.challenge),
    user: { ...json.user, id: b64u.decode(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) })) };
}
function requestOptions(json) {
  if (native) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: b64u.decode(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64u.decode(c.id) })) };
}
function toJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: b64u.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64u.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64u.encode(r.authenticatorData);
    response.signature = b64u.encode(r.signature);
    if (r.userHandle) response.userHandle = b64u.encode(r.userHandle);
  }
  return { id: credential.id, rawId: b64u.encode(credential.rawId), type: credential.type,
    response, clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment };
}
window.registerPasskey = async (bearer) => {
  const started = await gql("mutation { startPasskeyRegistration { options errors { code message } } }", {}, bearer);
  const options = started.data.startPasskeyRegistration.options;
  const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
  const finished = await gql(\`mutation($c: JSON!) { finishPasskeyRegistration(credential: $c, name: "Chromium") {
      passkey { id name transports backupEligible } errors { code message } } }\`, { c: toJSON(credential) }, bearer);
  return { native, options, finished };
};
window.signIn = async (username) => {
  const started = await gql("mutation($u: String) { startPasskeyLogin(username: $u) { options errors { code message } } }", { u: username });
  const options = started.data.startPasskeyLogin.options;
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
  const finished = await gql(\`mutation($c: JSON!) { finishPasskeyLogin(credential: $c) {
      accessToken mfaRequired user { username passkeyCount } errors { code message } } }\`, { c: toJSON(credential) });
  const access = finished.data && finished.data.finishPasskeyLogin.accessToken;
  const me = access ? await gql("{ me { username } }", {}, access) : null;
  return { options, finished, me };
};
</script></body></html>`;

try {
  // the test's page, at the real server's origin (so the RP id and origin are the server's)
  await context.route(`${server}/passkey-test`, (route) =>
    route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: PAGE }),
  );
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${server}/passkey-test`, { waitUntil: "load" });
  result.secureContext = await page.evaluate(() => window.isSecureContext);
  result.registration = await page.evaluate((t) => window.registerPasskey(t), token);
  result.credentialsAfterRegistration = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials
    .map((c) => ({ isResidentCredential: c.isResidentCredential, rpId: c.rpId, signCount: c.signCount }));
  result.discoverable = await page.evaluate(() => window.signIn(null));
  result.named = await page.evaluate((u) => window.signIn(u), username);
  result.credentialsAfterSignIn = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials
    .map((c) => ({ signCount: c.signCount }));
} catch (error) {
  result.failure = String(error && error.stack ? error.stack : error);
} finally {
  await context.close();
}
report(result);
