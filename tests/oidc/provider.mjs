// A real OpenID Provider for the test suite (panva/oidc-provider), on 127.0.0.1 only.
//
//   node provider.mjs <config.json>
//
// The config names the issuer URL and port, the signing keys (private JWKs, made by the test so
// it can also forge tokens with them; without them a key is made at start), the clients and
// the accounts (example.json is the operator guide's). It prints "listening <url>"
// when ready. Besides the provider's own endpoints it serves, for the tests only:
//   /interaction/<uid>          a sign-in form: user name and "second factor used"
//   PUT/DELETE /test/accounts/<id>   add, change or remove an account while running
// Consent is granted without asking (all clients are first-party here).
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
if (!config.jwks) {
  // No keys given (the operator guide's walk): a fresh signing key for this run.
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  config.jwks = { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "walk", alg: "RS256", use: "sig" }] };
}
const accounts = new Map(Object.entries(config.accounts ?? {}));
const SCOPES = "openid profile email crosscheck offline_access";

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ["crosscheck-test-provider-cookie-key"] },
  scopes: SCOPES.split(" "),
  claims: {
    openid: ["sub", "acr", "amr", "auth_time"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    crosscheck: ["groups", "company"],
  },
  conformIdTokenClaims: false,
  acrValues: ["urn:crosscheck:pwd", "urn:crosscheck:mfa"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  ttl: {
    IdToken: config.id_token_ttl ?? 3600,
    AccessToken: 600,
    RefreshToken: 86400,
    Grant: 86400,
    Session: 86400,
    Interaction: 600,
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  findAccount: async (ctx, id) => {
    const claims = accounts.get(id);
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  loadExistingGrant: async (ctx) => {
    const grantId =
      ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPES);
    grant.addOIDCClaims(["acr", "amr", "auth_time", "preferred_username", "name", "email", "groups", "company"]);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>Test provider sign-in</title>
<h1>Test provider</h1><p>Client ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(uid)}">
<label>User name <input name="login" autofocus></label>
<label><input type="checkbox" name="mfa" value="1"> Second factor used</label>
<button type="submit">Sign in</button></form>`);
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const login = form.get("login") ?? "";
  if (!accounts.has(login)) {
    await provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: "unknown user",
    });
    return;
  }
  const mfa = form.get("mfa") === "1";
  await provider.interactionFinished(
    req,
    res,
    {
      login: {
        accountId: login,
        acr: mfa ? "urn:crosscheck:mfa" : "urn:crosscheck:pwd",
        amr: mfa ? ["pwd", "otp"] : ["pwd"],
      },
    },
    { mergeWithLastSubmission: false },
  );
}

async function testAccounts(req, res, id) {
  if (req.method === "PUT") accounts.set(id, JSON.parse(await readBody(req)));
  else if (req.method === "DELETE") accounts.delete(id);
  else {
    res.writeHead(405).end();
    return;
  }
  res.writeHead(204).end();
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, config.issuer).pathname;
  try {
    const interactionMatch = path.match(/^\/interaction\/([^/]+)$/);
    const accountMatch = path.match(/^\/test\/accounts\/([^/]+)$/);
    if (interactionMatch) await interaction(req, res, interactionMatch[1]);
    else if (accountMatch) await testAccounts(req, res, decodeURIComponent(accountMatch[1]));
    else callback(req, res);
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error));
  }
});
server.listen(config.port, "127.0.0.1", () => {
  console.log(`listening ${config.issuer}`);
});
