// server.mjs - the real OAuth 2.0 authorization server of envoi's tests:
// oidc-provider (an OpenID Certified implementation) on 127.0.0.1 over
// TLS with the test CA, with the device authorization grant (RFC 8628),
// refresh-token rotation, revocation (RFC 7009) and introspection
// (RFC 7662, for Dovecot's oauth2 passdb).
//
// Environment:
//   OAUTH_PORT       port on 127.0.0.1 (default 0: any free one; the
//                    first line of output is "listening https://...")
//   OAUTH_CERT, OAUTH_KEY   server certificate and key (PEM)
//   OAUTH_AT_TTL     access token lifetime in seconds (default 3600;
//                    GET /test/ttl?seconds=N changes it for the tokens
//                    issued from then on)
//   GET /test/down?on=1 makes the token endpoint answer 503 (a provider
//   in trouble) until GET /test/down?on=0
//   OAUTH_ACCOUNT    the account every login signs in as
//                    (default alice@example.test)
//
// The user's browser is played by the tests: /interaction/UID signs in
// OAUTH_ACCOUNT and grants what the client asked for at once, so that
// approving a device code is GET /device?user_code=CODE and a POST of
// its confirmation form (tests/oauth/approve.sh).
//
// GET /test/stats answers the count of token requests per grant type
// and outcome ({"refresh_token": {"success": 1, "error": 0}, ...}): the
// tests prove that twenty concurrent runs refreshed once.
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

let ttl = Number(process.env.OAUTH_AT_TTL || 3600);
let down = false;
const account = process.env.OAUTH_ACCOUNT || 'alice@example.test';

// Listen first: the issuer URL names the port.
const server = https.createServer({
  cert: fs.readFileSync(process.env.OAUTH_CERT),
  key: fs.readFileSync(process.env.OAUTH_KEY),
});
await new Promise((resolve) => {
  server.listen(Number(process.env.OAUTH_PORT || 0), '127.0.0.1', resolve);
});
const issuer = `https://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      // envoi: a public client, as a desktop or server app is.
      client_id: 'envoi-test',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code',
        'refresh_token', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/'],
      application_type: 'native',
    },
    {
      // Dovecot's oauth2 passdb: introspects the tokens.
      client_id: 'dovecot',
      client_secret: 'dovecot-test-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  scopes: ['openid', 'offline_access', 'email', 'smtp'],
  claims: { email: ['email'] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id }),
  }),
  // Every grant gets a refresh token, rotated on each use.
  issueRefreshToken: async () => true,
  rotateRefreshToken: true,
  ttl: {
    AccessToken: () => ttl,
    RefreshToken: 30 * 86400,
    DeviceCode: 600,
    Grant: 30 * 86400,
    Interaction: 600,
    Session: 86400,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['envoi-test-cookie-key'] },
});

const stats = {};
function count(ctx, outcome) {
  const type = ctx.oidc?.params?.grant_type || 'unknown';
  stats[type] ??= { success: 0, error: 0 };
  stats[type][outcome] += 1;
}
provider.on('grant.success', (ctx) => count(ctx, 'success'));
provider.on('grant.error', (ctx) => count(ctx, 'error'));

// The browser: sign in and consent at once.
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/test/stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/test/down') {
    down = ctx.query.on === '1';
    ctx.body = { down };
    return;
  }
  if (down && ctx.path === '/token') {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable' };
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/test/ttl') {
    ttl = Number(ctx.query.seconds);
    ctx.body = { ttl };
    return;
  }
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId,
        clientId: details.params.client_id });
    const missing = details.prompt.details.missingOIDCScope;
    if (missing) grant.addOIDCScope(missing.join(' '));
    const claims = details.prompt.details.missingOIDCClaims;
    if (claims) grant.addOIDCClaims(claims);
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result,
    { mergeWithLastSubmission: true });
  ctx.redirect(to);
});

server.on('request', provider.callback());
process.stdout.write(`listening ${issuer}\n`);
