// A local OAuth 2 / OpenID Connect authorization server for the tests, on npm
// oidc-provider 9.x: authorization code + PKCE S256, loopback redirect on any
// port (native clients, RFC 8252), stable refresh tokens (like Google),
// revocation, introspection, userinfo at /me.
//
// Adapted from shared/peers/oauth-server.mjs (the team's peer catalogue):
// Google's Gmail tier scopes and the opt-in module scopes commsd asks for are
// added, and Google's extra authorization parameters are accepted.
//
// Usage: node oauth-server.mjs PORT   -> issuer http://127.0.0.1:PORT
// NODE_PATH must reach oidc-provider (scripts/test installs it into .cache/).
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 9000);
const G = 'https://www.googleapis.com/auth/';
const GOOGLE_SCOPES = [
  'https://mail.google.com/',
  `${G}gmail.readonly`, `${G}gmail.compose`, `${G}gmail.send`, `${G}gmail.modify`,
  `${G}contacts`, `${G}contacts.readonly`, `${G}contacts.other.readonly`, `${G}directory.readonly`,
  `${G}chat.messages`, `${G}chat.messages.create`, `${G}chat.messages.readonly`, `${G}chat.spaces.readonly`,
  `${G}chat.spaces`, `${G}chat.spaces.create`,
];
const redirect_uris = ['http://127.0.0.1/oauth/callback', 'http://127.0.0.1/callback'];
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    // Google "Desktop app"-like client: a (non-secret) secret, loopback redirect on any port, PKCE.
    { client_id: 'desktop-client', client_secret: 'desktop-secret', application_type: 'native',
      token_endpoint_auth_method: 'client_secret_post', redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
    // Resource server credential for token introspection (Dovecot XOAUTH2).
    { client_id: 'imap-rs', client_secret: 'imap-rs-secret', grant_types: [], response_types: [], redirect_uris: [] },
  ],
  scopes: ['openid', 'email', 'profile', 'offline_access', ...GOOGLE_SCOPES],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  pkce: { required: () => true },
  extraParams: ['access_type', 'login_hint', 'include_granted_scopes'],
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: false,
  features: { devInteractions: { enabled: true }, introspection: { enabled: true }, revocation: { enabled: true } },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, RefreshToken: 14 * 24 * 3600, Session: 3600, Grant: 14 * 24 * 3600, Interaction: 600 },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: id, email_verified: true }; } };
  },
  // Auto-consent: grant every requested scope (the login page is the only interaction).
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) {
        existing.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
        await existing.save();
        return existing;
      }
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on http://127.0.0.1:${port}`));
