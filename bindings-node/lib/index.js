'use strict';
// @alter-ai/alter-sdk: the JavaScript layer over the native core. It adds
// only what JavaScript idioms need: the error classes, the fetch-style
// Response, AbortSignal wiring and secret-safe representations. Arguments
// are passed to the native module as JSON; every rule lives in the core.

const { inspect } = require('node:util');
const { AsyncLocalStorage } = require('node:async_hooks');
const native = require('../index.js');
const errors = require('./errors.js');
const { AlterResponse } = require('./response.js');
const results = require('./results.js');

const E = errors.init(native.errorKinds());
const { rebuild } = errors;
const { record, ApprovalResult } = results;

const VERSION = require('../package.json').version;

/** HTTP methods; any API that takes one also accepts a plain string. */
const HttpMethod = Object.freeze({
  GET: 'GET',
  POST: 'POST',
  PUT: 'PUT',
  PATCH: 'PATCH',
  DELETE: 'DELETE',
  HEAD: 'HEAD',
  OPTIONS: 'OPTIONS',
});

/** Audit grouping of a caller. */
const CallerType = Object.freeze({ AGENT: 'agent', SERVICE: 'service' });

const PROVIDER_NAMES = [
  'ACUITY_SCHEDULING', 'ADOBE', 'AIRCALL', 'AIRTABLE', 'APOLLO', 'ASANA', 'ATLASSIAN', 'ATTIO',
  'AUTODESK', 'BASECAMP', 'BITBUCKET', 'BITLY', 'BOX', 'BREX', 'CALENDLY', 'CAL_COM', 'CANVA',
  'CLICKUP', 'CLOSE', 'CONSTANT_CONTACT', 'CONTENTFUL', 'DEEL', 'DIALPAD', 'DIGITALOCEAN',
  'DISCORD', 'DOCUSIGN', 'DROPBOX', 'EBAY', 'EVENTBRITE', 'FACEBOOK', 'FIGMA', 'GITHUB', 'GITLAB',
  'GOOGLE', 'HUBSPOT', 'INSTAGRAM', 'KLAVIYO', 'LINEAR', 'LINKEDIN', 'MAILCHIMP', 'MERCURY',
  'MICROSOFT', 'MIRO', 'MONDAY', 'NOTION', 'OUTREACH', 'PAGERDUTY', 'PAYPAL', 'PINTEREST',
  'PIPEDRIVE', 'QUICKBOOKS', 'RAMP', 'REDDIT', 'RINGCENTRAL', 'RIPPLING', 'SALESFORCE', 'SENTRY',
  'SLACK', 'SNAPCHAT', 'SPOTIFY', 'SQUARE', 'SQUARESPACE', 'STRIPE', 'TIKTOK', 'TODOIST',
  'TWITTER', 'TYPEFORM', 'WEBEX', 'WEBFLOW', 'XERO', 'ZOOM',
];
/** OAuth providers by name (`Provider.GOOGLE === "google"`). */
const Provider = Object.freeze(
  Object.fromEntries(PROVIDER_NAMES.map((n) => [n, n.toLowerCase().replace(/_/g, '-')])),
);

/** The audit context `agent.trace()` scopes over an async call tree. */
const ambient = new AsyncLocalStorage();

const RATE_LIMIT_SCOPE_VALUES = Object.freeze(['ip', 'api_key', 'organization']);

// ---- calling the native module ----------------------------------------------

/**
 * Arguments as JSON for the native side. JSON has no Infinity or NaN:
 * JSON.stringify would send `null`, which reads as "not given" and
 * silently picks the default, so a non-finite number is refused here,
 * naming its key. Any other value is checked by the core.
 */
function toJson(op, value) {
  return JSON.stringify(value, (key, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new E.AlterValueError(`${op}: '${key}' must be a finite number`);
    }
    return v;
  });
}

function toBody(body) {
  if (body == null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf-8');
  if (Buffer.isBuffer(body)) return body;
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new E.AlterValueError('body must be a string, Buffer, Uint8Array or ArrayBuffer');
}

/**
 * The native side of an `onEvent` option: the core hands each event over
 * as camelCase JSON. What the user's callback throws (or rejects with) is
 * reported as a warning and never fails the call it observes.
 */
function eventCallback(op, onEvent) {
  const report = (e) => process.emitWarning(`${op}: onEvent failed: ${e}`, 'AlterSDKWarning');
  return (json) => {
    try {
      const r = onEvent(JSON.parse(json));
      if (r != null && typeof r.then === 'function') r.then(undefined, report);
    } catch (e) {
      report(e);
    }
  };
}

/**
 * Runs one native operation. `options` is the trailing options object: its
 * `signal` (and, for request(), its `body`) are taken out here; the rest
 * goes to the core as JSON. Resolves with `wrap(result)`.
 */
function invoke(nat, op, positional, options, wrap, takesBody = false, takesEvents = false) {
  let signal;
  let body;
  let onEvent;
  let rest = options;
  if (options != null && typeof options === 'object' && !Array.isArray(options)) {
    ({ signal, ...rest } = options);
    if (takesBody) {
      ({ body, ...rest } = rest);
    }
    if (takesEvents) {
      ({ onEvent, ...rest } = rest);
    }
  }
  if (signal !== undefined && signal !== null && !(signal instanceof AbortSignal)) {
    return Promise.reject(new E.AlterValueError(`${op}: signal must be an AbortSignal`));
  }
  if (onEvent != null && typeof onEvent !== 'function') {
    return Promise.reject(new E.AlterValueError(`${op}: onEvent must be a function`));
  }
  // JSON drops functions silently: a callback this call does not take
  // would vanish instead of being refused as any unknown option is.
  if (rest != null && typeof rest === 'object') {
    const fn = Object.keys(rest).find((k) => typeof rest[k] === 'function');
    if (fn !== undefined) {
      return Promise.reject(new E.AlterValueError(`${op}: option '${fn}' cannot be a function`));
    }
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  let args;
  let bytes;
  try {
    args = toJson(op, [...positional, rest ?? null]);
    bytes = toBody(body);
  } catch (e) {
    if (e instanceof E.AlterSDKError) return Promise.reject(e);
    return Promise.reject(new E.AlterValueError(`${op}: arguments are not JSON-serialisable`));
  }
  const token = signal ? new native.CancelToken() : undefined;
  const scope = ambient.getStore();
  const events = onEvent ? eventCallback(op, onEvent) : undefined;
  const settled = nat.call(op, args, bytes, token, scope ? JSON.stringify(scope) : undefined, events).then(
    (v) => (wrap ? wrap(v) : v),
    (e) => {
      throw rebuild(e);
    },
  );
  if (!signal) return settled;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      token.cancel();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Calls a synchronous native function, rebuilding its typed error. */
function sync(fn) {
  try {
    return fn();
  } catch (e) {
    throw rebuild(e);
  }
}

const as = (typeName) => (v) => record(v, typeName);
const asList = (typeName, field) => (v) => {
  if (v && Array.isArray(v[field])) v[field].forEach((x) => record(x, typeName));
  return v;
};

function proxyOutcome(v) {
  if (v && v.status === 'pending') return results.pendingApproval(v);
  return new ApprovalResult(v);
}

function warnFunction(logger) {
  if (logger != null) {
    return (msg) => {
      try {
        if (typeof logger.warn === 'function') logger.warn(msg);
        else if (typeof logger.warning === 'function') logger.warning(msg);
      } catch {
        // A failing logger never fails an SDK call.
      }
    };
  }
  return (msg) => process.emitWarning(msg, 'AlterSDKWarning');
}

function tokenFunction(getter) {
  if (getter == null) return undefined;
  if (typeof getter !== 'function') {
    throw new E.AlterValueError('userTokenGetter must be a function');
  }
  // Always a promise of a string; a failure carries nothing (the callback's
  // own error text might contain a token).
  return () =>
    Promise.resolve()
      .then(() => getter())
      .then((t) => (typeof t === 'string' ? t : ''));
}

const NATIVE = Symbol('alter.native');

/**
 * What the core needs to rebuild an SDK error: its nearest SDK class (so a
 * user subclass still counts), message, details and recovery attributes.
 * Anything that is not an SDK error goes without a class (the core refuses it).
 */
function errorPayload(error) {
  if (error === null || typeof error !== 'object') return { kind: null };
  let kind = null;
  for (let p = Object.getPrototypeOf(error); p; p = Object.getPrototypeOf(p)) {
    const ctor = p.constructor;
    if (ctor && errors.classes[ctor.name] === ctor) {
      kind = ctor.name;
      break;
    }
  }
  if (kind === null) return { kind: null };
  const details = error.details && typeof error.details === 'object' && !Array.isArray(error.details) ? error.details : {};
  const pick = (k) => (typeof error[k] === 'string' || typeof error[k] === 'number' ? error[k] : null);
  return {
    kind,
    message: typeof error.message === 'string' ? error.message : '',
    details,
    providerId: pick('providerId'),
    agentId: pick('agentId'),
    appUserId: pick('appUserId'),
    grantId: pick('grantId'),
  };
}

/** The `openBrowser` callback as the native side calls it: always a promise of "handled". */
function openerFunction(open) {
  return (url) =>
    Promise.resolve()
      .then(() => open(url))
      .then(
        () => true,
        () => false,
      );
}

/**
 * Headless Connect: `options.openBrowser` is a callback (the native side
 * awaits it), `false` (only print the URL) or absent (the system browser).
 */
function runConnect(nat, options) {
  if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
    return Promise.reject(new E.AlterValueError('connect: options must be an object'));
  }
  const { signal, openBrowser, ...rest } = options ?? {};
  let opener;
  if (typeof openBrowser === 'function') {
    opener = openerFunction(openBrowser);
  } else if (openBrowser === false || openBrowser === true) {
    rest.openBrowser = openBrowser;
  } else if (openBrowser != null) {
    return Promise.reject(new E.AlterValueError('connect: openBrowser must be a function or a boolean'));
  }
  if (signal !== undefined && signal !== null && !(signal instanceof AbortSignal)) {
    return Promise.reject(new E.AlterValueError('connect: signal must be an AbortSignal'));
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  let args;
  try {
    args = toJson('connect', [rest]);
  } catch (e) {
    if (e instanceof E.AlterSDKError) return Promise.reject(e);
    return Promise.reject(new E.AlterValueError('connect: options are not JSON-serialisable'));
  }
  const token = signal ? new native.CancelToken() : undefined;
  const scope = ambient.getStore();
  const settled = nat.connect(args, opener, token, scope ? JSON.stringify(scope) : undefined).then(
    (v) => {
      (v ?? []).forEach((r) => record(r, 'ConnectResult'));
      return v;
    },
    (e) => {
      throw rebuild(e);
    },
  );
  if (!signal) return settled;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      token.cancel();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

class BaseClient {
  /** @internal */
  constructor(kind, options, existing) {
    if (existing) {
      Object.defineProperty(this, NATIVE, { value: existing });
      return;
    }
    if (options == null || typeof options !== 'object') {
      throw new E.AlterSDKError('options with apiKey are required');
    }
    const { userTokenGetter, logger, ...rest } = options;
    const token = tokenFunction(userTokenGetter);
    let json;
    try {
      json = toJson(kind, rest);
    } catch (e) {
      if (e instanceof E.AlterSDKError) throw e;
      throw new E.AlterValueError('options are not JSON-serialisable');
    }
    Object.defineProperty(this, NATIVE, {
      value: sync(() => new native.NativeClient(kind, json, token, warnFunction(logger))),
    });
  }

  /** The backend base URL this client talks to. */
  get baseUrl() {
    return this[NATIVE].baseUrl;
  }

  /** The actor id the backend assigned this client, once known. */
  get actorId() {
    return this[NATIVE].actorId ?? null;
  }

  /** The backend's retry metadata of the latest `request()`. */
  get lastRetryInfo() {
    return this[NATIVE].lastRetryInfo ?? null;
  }

  /** The latest rate-limit headers the backend sent. */
  get lastRateLimit() {
    const s = this[NATIVE].lastRateLimit;
    return s ? { limit: s.limit, remaining: s.remaining, resetAt: new Date(s.resetAt) } : null;
  }

  /** True once `close()` was called (on this client or its parent). */
  get closed() {
    return this[NATIVE].closed;
  }

  /** Background reports not delivered (queue full, or abandoned at close or exit). */
  get droppedReports() {
    return this[NATIVE].droppedReports;
  }

  /** The cap on a provider response body (and a proxy-mode answer). */
  get maxResponseBytes() {
    return this[NATIVE].maxResponseBytes;
  }

  /** Retrieve mode: the SDK calls the provider with the credential injected. */
  request(method, url, options) {
    return invoke(this[NATIVE], 'request', [method, url], options, (r) => new AlterResponse(r), true);
  }

  /** Proxy mode: the backend calls the provider; may need an approval. */
  proxyRequest(method, url, options) {
    return invoke(this[NATIVE], 'proxyRequest', [method, url], options, proxyOutcome);
  }

  /** One approval status poll (`wait`: seconds the server may hold it). */
  getApprovalStatus(approvalId, options) {
    return invoke(this[NATIVE], 'getApprovalStatus', [approvalId], options, as('ApprovalStatus'));
  }

  /** Polls until the approval ends; resolves with the executed call's result. */
  awaitApproval(approvalId, options) {
    return invoke(this[NATIVE], 'awaitApproval', [approvalId], options, (v) => new ApprovalResult(v));
  }

  /**
   * Waits (up to `timeout` seconds, default 10) for background audit posts,
   * abandons the rest, then releases the client. Idempotent.
   */
  close(options) {
    return invoke(this[NATIVE], 'close', [], options);
  }

  /** Grants this client can see, one page at a time. */
  listGrants(options) {
    return invoke(this[NATIVE], 'listGrants', [], options, (v) => {
      if (v && Array.isArray(v.grants)) {
        v.grants.forEach((g) => record(g, g.grantKind === 'oauth' ? 'OAuthGrantItem' : 'ManagedSecretGrantItem'));
      }
      return record(v, 'UnifiedGrantListResult');
    });
  }

  /** Issues a managed-secret grant to a principal (an Agent: only itself). */
  createManagedSecretGrant(managedSecretId, options) {
    return invoke(this[NATIVE], 'createManagedSecretGrant', [managedSecretId], options, as('CreateGrantResult'));
  }

  /** Mints a Connect session for the Connect widget. */
  createConnectSession(options) {
    return invoke(this[NATIVE], 'createConnectSession', [], options, as('ConnectSession'));
  }

  /**
   * A Connect session that fixes what an SDK error reports: a missing
   * delegation (NoDelegatedGrantError), a missing grant (GrantNotFoundError)
   * or a revoked credential (CredentialRevokedError, repaired in place).
   */
  createConnectSessionForError(error, options) {
    return invoke(
      this[NATIVE],
      'createConnectSessionForError',
      [errorPayload(error)],
      options,
      as('ConnectSession'),
    );
  }

  /**
   * Headless OAuth: mints a Connect session, hands its URL to `openBrowser`
   * (default: the system browser), then polls until the flow ends.
   */
  connect(options) {
    return runConnect(this[NATIVE], options);
  }

  /** Mints a managed-secret Connect session (user → agent delegation). */
  createManagedSecretConnectSession(options) {
    return invoke(this[NATIVE], 'createManagedSecretConnectSession', [], options, as('ManagedSecretConnectSession'));
  }

  /** Waits for a Connect session to finish; resolves with its results. */
  pollConnectSession(sessionToken, options) {
    const results = (v) => {
      (v ?? []).forEach((r) => record(r, 'ConnectResult'));
      return v;
    };
    return invoke(this[NATIVE], 'pollConnectSession', [sessionToken], options, results, false, true);
  }

  /** The verified identity of the end user (and agent) behind a call. */
  resolveIdentity(options) {
    return invoke(this[NATIVE], 'resolveIdentity', [], options, as('IdentityContext'));
  }

  /** A short-lived signed assertion of that identity for `audience`. */
  assertIdentity(options) {
    return invoke(this[NATIVE], 'assertIdentity', [], options, as('IdentityAssertion'));
  }

  /** Derived API keys (`keys.derive/rotate/revoke`). */
  get keys() {
    const nat = this[NATIVE];
    return namespace('KeysNamespace', {
      derive: (o) => invoke(nat, 'keys.derive', [], o, as('MintedKey')),
      rotate: (o) => invoke(nat, 'keys.rotate', [], o, as('MintedKey')),
      revoke: (o) => invoke(nat, 'keys.revoke', [], o, as('APIKeyInfo')),
    });
  }

  /** The caller's own trace spans (`spans.emit([...])`). */
  get spans() {
    const nat = this[NATIVE];
    return namespace('SpansNamespace', {
      emit: (spans, o) => invoke(nat, 'spans.emit', [spans], o, as('EmitSpansResult')),
    });
  }

  /** The scope catalog (`scopes.list()`, alias `getCatalog()`). */
  get scopes() {
    const nat = this[NATIVE];
    const list = (o) => invoke(nat, 'scopes.list', [], o, as('ScopeCatalog'));
    return namespace('ScopesNamespace', { list, getCatalog: list });
  }

  /** The OAuth provider catalog. */
  get oauthProviders() {
    const nat = this[NATIVE];
    return namespace('OAuthProvidersNamespace', {
      list: (o) => invoke(nat, 'oauthProviders.list', [], o, as('OAuthProviderCatalog')),
    });
  }

  /** Provider API specs and their operations. */
  get providerSpecs() {
    const nat = this[NATIVE];
    return namespace('ProviderSpecsNamespace', {
      list: (kind, o) => invoke(nat, 'providerSpecs.list', [kind ?? null], o),
      get: (kind, providerId, o) => invoke(nat, 'providerSpecs.get', [kind, providerId], o, as('ProviderSpec')),
      listOperations: (kind, providerId, o) =>
        invoke(nat, 'providerSpecs.listOperations', [kind, providerId], o, as('SpecOperationsPage')),
      getOperation: (kind, providerId, operationId, o) =>
        invoke(nat, 'providerSpecs.getOperation', [kind, providerId, operationId], o, as('SpecOperationDetail')),
    });
  }

  /** Async disposal (`await using client = new Agent(...)`). */
  [Symbol.asyncDispose]() {
    return this.close();
  }

  toJSON() {
    return { type: this.constructor.name, baseUrl: this.baseUrl, actorId: this.actorId, closed: this.closed };
  }

  [inspect.custom](depth, options, inspectFn = inspect) {
    return `${this.constructor.name} ${inspectFn(this.toJSON(), options)}`;
  }
}

function namespace(name, methods) {
  const ns = Object.assign(Object.create(null), methods);
  Object.defineProperty(ns, inspect.custom, { value: () => `${name} {}` });
  return Object.freeze(ns);
}

/** The managed-agents namespace of an App (`app.agents`). */
class AgentsNamespace {
  #nat;

  /** @internal */
  constructor(nat) {
    this.#nat = nat;
  }

  create(options) {
    return invoke(this.#nat, 'agents.create', [], options, as('AgentCreateResult'));
  }

  list(options) {
    return invoke(this.#nat, 'agents.list', [], options, asList('AgentInfo', 'agents'));
  }

  get(agentId, options) {
    return invoke(this.#nat, 'agents.get', [agentId], options, as('AgentInfo'));
  }

  getByName(name, options) {
    return invoke(this.#nat, 'agents.getByName', [name], options, as('AgentInfo'));
  }

  update(agentId, options) {
    return invoke(this.#nat, 'agents.update', [agentId], options, as('AgentInfo'));
  }

  suspend(agentId, options) {
    return invoke(this.#nat, 'agents.suspend', [agentId], options, as('AgentInfo'));
  }

  resume(agentId, options) {
    return invoke(this.#nat, 'agents.resume', [agentId], options, as('AgentInfo'));
  }

  delete(agentId, options) {
    return invoke(this.#nat, 'agents.delete', [agentId], options, as('AgentInfo'));
  }

  mintKey(agentId, options) {
    return invoke(this.#nat, 'agents.mintKey', [agentId], options, as('AgentKeyMintResult'));
  }

  listKeys(agentId, options) {
    return invoke(this.#nat, 'agents.listKeys', [agentId], options, asList('AgentKey', 'items'));
  }

  deprecateKey(agentId, keyId, options) {
    return invoke(this.#nat, 'agents.deprecateKey', [agentId, keyId], options, as('AgentKey'));
  }

  undeprecateKey(agentId, keyId, options) {
    return invoke(this.#nat, 'agents.undeprecateKey', [agentId, keyId], options, as('AgentKey'));
  }

  revokeKey(agentId, keyId, options) {
    return invoke(this.#nat, 'agents.revokeKey', [agentId, keyId], options, as('AgentKey'));
  }

  [inspect.custom]() {
    return 'AgentsNamespace {}';
  }
}

/** The operator client (app keys). */
class App extends BaseClient {
  #agents;

  constructor(options, _native) {
    super('App', options, _native);
  }

  /** Managed agents and their keys. */
  get agents() {
    this.#agents ??= new AgentsNamespace(this[NATIVE]);
    return this.#agents;
  }

  /** A sibling client whose every request is bound to the constraints. */
  withConstraints(options) {
    const nat = sync(() => this[NATIVE].withConstraints(toJson('withConstraints', options ?? {})));
    return new App(undefined, nat);
  }

  /** An Agent acting as a managed agent (UUID or name) under this App's key. */
  getAgent(agent, options) {
    return invoke(this[NATIVE], 'getAgent', [agent], options, (nat) => new Agent(undefined, nat));
  }

  revokeGrant(grantId, options) {
    return invoke(this[NATIVE], 'revokeGrant', [grantId], options, as('RevokeGrantResult'));
  }

  /** Revokes a named agent's delegation on a grant. */
  revokeDelegation(grantId, agentId, options) {
    return invoke(this[NATIVE], 'revokeDelegation', [grantId, agentId], options);
  }

  mintGrant(sourceGrantId, options) {
    return invoke(this[NATIVE], 'mintGrant', [sourceGrantId], options, as('GrantInfo'));
  }

  createAuthSession(options) {
    return invoke(this[NATIVE], 'createAuthSession', [], options, as('AuthSession'));
  }

  pollAuthSession(sessionToken, options) {
    return invoke(this[NATIVE], 'pollAuthSession', [sessionToken], options, as('AuthResult'));
  }

  /** The user id of a valid end-user JWT, else null. */
  verifyUserToken(token, options) {
    return invoke(this[NATIVE], 'verifyUserToken', [token], options);
  }
}

/** The workload client (agent keys). */
class Agent extends BaseClient {
  constructor(options, _native) {
    super('Agent', options, _native);
  }

  /** The calling agent's own record; works while the agent is paused. */
  me(options) {
    return invoke(this[NATIVE], 'me', [], options, as('AgentInfo'));
  }

  /** A sibling client whose every request is bound to the constraints. */
  withConstraints(options) {
    const nat = sync(() => this[NATIVE].withConstraints(toJson('withConstraints', options ?? {})));
    return new Agent(undefined, nat);
  }

  /**
   * Runs `fn` in this agent's trace scope: every call made inside it (by
   * any client) is audited with the agent identity, `runId`, `threadId`,
   * `parent` and the other keys as metadata.
   */
  trace(options, fn) {
    if (typeof options === 'function') {
      fn = options;
      options = {};
    }
    if (typeof fn !== 'function') throw new E.AlterValueError('trace(options, fn): fn must be a function');
    const outer = ambient.getStore();
    const ctx = sync(() =>
      this[NATIVE].traceContext(toJson('trace', options ?? {}), outer ? JSON.stringify(outer) : undefined),
    );
    return ambient.run(JSON.parse(ctx), fn);
  }

  /** Delegates a grant this agent holds to another agent. */
  delegate(grantId, toAgentId, options) {
    return invoke(this[NATIVE], 'delegate', [grantId, toAgentId], options, as('DelegationResult'));
  }

  /** Revokes this agent's own delegation on a grant. */
  revokeDelegation(grantId, options) {
    return invoke(this[NATIVE], 'revokeDelegation', [grantId], options);
  }
}

function jsonArg(op, v) {
  try {
    return toJson(op, v ?? {});
  } catch (e) {
    if (e instanceof E.AlterSDKError) throw e;
    throw new E.AlterValueError(`${op}: arguments are not JSON-serialisable`);
  }
}

/** A validated `content_match` rule for `withConstraints({ rule })`. */
function contentMatchRule(options) {
  return sync(() => native.contentMatchRule(jsonArg('contentMatchRule', options)));
}

/** Any request rule: `{ ruleType, ruleBody }` (the body keeps its wire names). */
function requestRule(ruleType, ruleBody) {
  if (typeof ruleType !== 'string') throw new E.AlterValueError('requestRule: ruleType must be a string');
  return sync(() => native.requestRule(ruleType, jsonArg('requestRule', ruleBody)));
}

/** Validated weekly windows, the value of an `outside_windows` condition. */
function timeWindows(windows) {
  return sync(() => native.timeWindows(jsonArg('timeWindows', windows)));
}

/**
 * Offline check of an identity assertion (from `assertIdentity`) against a
 * key set the caller trusts; returns the `IdentityContext` it proves.
 */
function verifyIdentityAssertion(token, options) {
  if (typeof token !== 'string') {
    throw new E.AlterValueError('verifyIdentityAssertion: token must be a string');
  }
  const v = sync(() => native.verifyIdentityAssertion(token, jsonArg('verifyIdentityAssertion', options)));
  return record(v, 'IdentityContext');
}

/** Offline check of an API key's grammar and checksum; never throws. */
function isValidKey(key) {
  return typeof key === 'string' && native.isValidKey(key);
}

// Audit rows of clients nobody closed: when the event loop runs dry, give
// them the core's exit deadline to reach the backend. The flush's pending
// promise keeps the loop alive while it runs, so `beforeExit` fires again
// afterwards, with nothing pending. (`process.exit()` skips `beforeExit`:
// close clients before calling it.)
process.on('beforeExit', () => {
  if (native.pendingBackgroundPosts() > 0) {
    native.flushBackgroundPosts().catch(() => {});
  }
});

module.exports = {
  App,
  Agent,
  HttpMethod,
  CallerType,
  Provider,
  RATE_LIMIT_SCOPE_VALUES,
  AlterResponse,
  ApprovalResult,
  isPendingApproval: results.isPendingApproval,
  isApprovalResult: results.isApprovalResult,
  isValidKey,
  contentMatchRule,
  requestRule,
  timeWindows,
  verifyIdentityAssertion,
  VERSION,
  ...E,
};
