'use strict';
// @alter-ai/alter-sdk/testing: the embedded local vault, in-process.
//
//   const vault = await LocalVault.start();
//   process.env.ALTER_BASE_URL = vault.baseUrl;
//   const app = vault.app();
//   ...
//   await vault.stop();

const { inspect } = require('node:util');
const native = require('../index.js');
const sdk = require('./index.js');

const silent = { warn() {} };

/** The local vault's operator API (`/_dev/*`), standing in for the portal. */
class VaultAdmin {
  #n;

  /** @internal */
  constructor(n) {
    this.#n = n;
  }

  #call(op, ...args) {
    return this.#n.admin(op, JSON.stringify(args));
  }

  health() {
    return this.#call('health');
  }

  /** Creates a managed secret from the full operator body; resolves with its id. */
  createManagedSecret(body) {
    return this.#call('createManagedSecret', body);
  }

  /** A bearer-style managed secret with default injection; resolves with its id. */
  managedSecret(slug, credential) {
    return this.#call('managedSecret', slug, credential);
  }

  /** A grant on a managed secret from the full operator body; resolves with its id. */
  createManagedSecretGrant(managedSecretId, body) {
    return this.#call('createManagedSecretGrant', managedSecretId, body);
  }

  /** A grant bound to an agent (or a system grant when agentId is null). */
  managedSecretGrant(managedSecretId, agentId, label) {
    return this.#call('managedSecretGrant', managedSecretId, agentId ?? null, label);
  }

  /** An end user of the app's IDP: `{ userId, userToken }`. */
  createUser(email) {
    return this.#call('createUser', email);
  }

  /** An OAuth grant (and, when an agent is named, its delegation). */
  createOAuthGrant(body) {
    return this.#call('createOAuthGrant', body);
  }

  /** Toggles grant flags (`{ revoked, hitl, expiresAt, ... }`). */
  updateGrant(grantId, body) {
    return this.#call('updateGrant', grantId, body);
  }

  approval(approvalId) {
    return this.#call('approval', approvalId);
  }

  /** `approve`, `deny` or `expire` an approval. */
  decide(approvalId, decision, reason) {
    return this.#call('decide', approvalId, decision, reason ?? null);
  }

  /** Every stored audit event. */
  audit() {
    return this.#call('audit');
  }

  /** Makes the vault answer a path with a status (and body) a number of times. */
  addFault(body) {
    return this.#call('addFault', body);
  }

  clearFaults() {
    return this.#call('clearFaults');
  }

  /** Adjusts a key (`{ apiKey | keyId, rateLimitRpm, scopes, deprecated, revoked, expiresAt }`). */
  updateKey(body) {
    return this.#call('updateKey', body);
  }

  /** Adjusts an agent (`{ rateLimitPerMinute, status }`). */
  updateAgent(agentId, body) {
    return this.#call('updateAgent', agentId, body);
  }

  /** A Connect session as stored (what its consent page shows), with its poll answer under `poll`. */
  connectSession(sessionToken) {
    return this.#call('connectSession', sessionToken);
  }

  /**
   * Acts as the end user on a Connect session's consent page: `action` is
   * `approve` (default), `deny`, `decline` (with `providerId`), `fail` or
   * `expire`; `fields` are the page's choices (`providers`, `account`,
   * `ttlSeconds`, `shareOnward`, `secret`, ...). Resolves with the poll answer.
   */
  completeConnect(sessionToken, action = 'approve', fields = {}) {
    return this.#call('completeConnect', sessionToken, { ...fields, action });
  }

  [inspect.custom]() {
    return 'VaultAdmin {}';
  }
}

/** The embedded local vault: a real HTTP server on loopback, in this process. */
class LocalVault {
  #n;
  #info;
  #admin;

  /** @internal Use `LocalVault.start()`. */
  constructor(n, info) {
    this.#n = n;
    this.#info = info;
    this.#admin = new VaultAdmin(n);
  }

  /** Starts a vault on a free loopback port (state in memory unless `stateFile`). */
  static async start(options = {}) {
    const n = new native.NativeLocalVault();
    const info = await n.start(options.stateFile ?? undefined);
    return new LocalVault(n, info);
  }

  get baseUrl() {
    return this.#info.baseUrl;
  }

  get appId() {
    return this.#info.appId;
  }

  /** The app's API key (never shown by inspect or JSON.stringify). */
  get appApiKey() {
    return this.#info.appApiKey;
  }

  /** The operator token of the `/_dev` API. */
  get adminToken() {
    return this.#info.adminToken;
  }

  get admin() {
    return this.#admin;
  }

  /** The fake provider that answers with what it received. */
  echoUrl(path = '/') {
    return `${this.baseUrl}/_provider/echo${path.startsWith('/') ? path : `/${path}`}`;
  }

  /** Any fake-provider URL (`/_provider/...`). */
  providerUrl(path) {
    return `${this.baseUrl}/_provider${path.startsWith('/') ? path : `/${path}`}`;
  }

  /** An App on this vault (warnings silenced unless a logger is given). */
  app(options = {}) {
    return new sdk.App({ apiKey: this.appApiKey, baseUrl: this.baseUrl, logger: silent, ...options });
  }

  /** An Agent on this vault with the given key. */
  agent(apiKey, options = {}) {
    return new sdk.Agent({ apiKey, baseUrl: this.baseUrl, logger: silent, ...options });
  }

  /** Creates a managed agent through the SDK: `{ id, apiKey }`. */
  async newAgent(name, options = {}) {
    const app = this.app();
    try {
      const created = await app.agents.create({ name, ...options });
      return { id: created.id, apiKey: created.apiKey };
    } finally {
      await app.close();
    }
  }

  /** A managed secret holding `credential`, granted to an agent (or system). */
  async boundSecret(slug, credential, agentId = null) {
    const ms = await this.#admin.managedSecret(slug, credential);
    return this.#admin.managedSecretGrant(ms, agentId, `${slug}-grant`);
  }

  /** Stops the server; idempotent. */
  stop() {
    return this.#n.stop();
  }

  [Symbol.asyncDispose]() {
    return this.stop();
  }

  toJSON() {
    return { baseUrl: this.baseUrl, appId: this.appId };
  }

  [inspect.custom](depth, options, inspectFn = inspect) {
    return `LocalVault ${inspectFn(this.toJSON(), options)}`;
  }
}

module.exports = { LocalVault, VaultAdmin };
