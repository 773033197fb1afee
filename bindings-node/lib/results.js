'use strict';
// Result objects: camelCase records from the core, with representations
// (`util.inspect`, `JSON.stringify`) that never show a one-time secret.

const { inspect } = require('node:util');

/** Fields never shown by inspect or JSON.stringify (read them explicitly). */
const SECRET = ['apiKey', 'userToken', 'accessToken'];
/** Fields hidden from inspect only (they are meant to be handed on). */
const LOG_ONLY = ['authUrl', 'connectUrl', 'token'];

function redacted(obj, keys) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = keys.includes(k) && v != null ? '<redacted>' : v;
  }
  return out;
}

function hide(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: false });
}

/** Gives a record a type name and secret-safe representations. */
function record(obj, typeName) {
  if (obj === null || typeof obj !== 'object') return obj;
  const hasSecret = SECRET.some((k) => obj[k] != null);
  const hasLogOnly = LOG_ONLY.some((k) => obj[k] != null);
  if (hasSecret) {
    hide(obj, 'toJSON', function toJSON() {
      return redacted(this, SECRET);
    });
  }
  if (hasSecret || hasLogOnly || typeName) {
    hide(obj, inspect.custom, function (depth, options, inspectFn = inspect) {
      const shown = redacted(this, [...SECRET, ...LOG_ONLY]);
      const body = inspectFn(shown, { ...options, depth: options.depth == null ? null : options.depth - 1 });
      return typeName ? `${typeName} ${body}` : body;
    });
  }
  return obj;
}

/** The captured provider response of a proxied (or approved) call. */
class ApprovalResult {
  constructor(raw) {
    Object.assign(this, raw);
    /** Always "executed": the call ran. Compare with PendingApproval. */
    this.status = 'executed';
  }

  /** The body bytes (decoded from `bodyB64`). */
  bodyBytes() {
    return Buffer.from(this.bodyB64 ?? '', 'base64');
  }

  bodyText() {
    return this.bodyBytes().toString('utf-8');
  }

  bodyJson() {
    return JSON.parse(this.bodyText());
  }

  [inspect.custom](depth, options, inspectFn = inspect) {
    const { bodyB64, ...rest } = this;
    const shown = { ...rest, bodyLength: Buffer.byteLength(bodyB64 ?? '', 'base64') };
    return `ApprovalResult ${inspectFn(shown, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`;
  }
}

function pendingApproval(raw) {
  return record(raw, 'PendingApproval');
}

function isPendingApproval(x) {
  return x != null && typeof x === 'object' && x.status === 'pending' && typeof x.approvalId === 'string';
}

function isApprovalResult(x) {
  return x instanceof ApprovalResult;
}

module.exports = { record, ApprovalResult, pendingApproval, isPendingApproval, isApprovalResult, SECRET };
