'use strict';
// The error classes, built from the one table the native module exports
// (the core's ERROR_KINDS: class name, parent, stable code, attributes).
// The native layer rejects with a plain Error carrying `alter` = {kind,
// message, code, details, attributes}; `rebuild` turns it into the class.


const classes = Object.create(null);
const codes = Object.create(null);
const attributeNames = Object.create(null);

function define(table) {
  for (const row of table) {
    const Parent = row.parent ? classes[row.parent] : Error;
    if (!Parent) throw new Error(`error table lists ${row.name} before its parent ${row.parent}`);
    const name = row.name;
    const attrs = row.attributes;
    // A named class expression so stacks and `constructor.name` read right.
    const cls = {
      [name]: class extends Parent {
        constructor(message = '', options = {}) {
          const { cause, details, code, ...rest } = options ?? {};
          super(String(message ?? ''), cause === undefined ? undefined : { cause });
          // Each level sets its own class's fields; the most derived runs last.
          define_own(this, 'code', typeof code === 'string' ? code : codes[name]);
          define_own(this, 'details', details && typeof details === 'object' && !Array.isArray(details) ? details : {});
          for (const a of attributeNames[name]) define_own(this, a, rest[a] === undefined ? null : rest[a]);
        }
      },
    }[name];
    Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false });
    classes[name] = cls;
    codes[name] = row.code;
    attributeNames[name] = attrs;
  }
}

function define_own(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: true });
}

// What util.inspect and console.log show of an error: its stack (which
// starts with "Name: message"), its code, and only the *names* of its
// details and attributes. A provider body quoted in `responseBody` or a
// value in `details` may be sensitive (and code may build errors of its
// own with anything in them), so values are read explicitly, never logged
// by accident. `toJSON` stays the explicit, complete form.
function inspectError(_depth, options, inspect) {
  const attributes = Object.keys(this).filter((k) => k !== 'code' && k !== 'details');
  const shown = { code: this.code, details: Object.keys(this.details ?? {}), attributes };
  const head = typeof this.stack === 'string' && this.stack ? this.stack : `${this.name}: ${this.message}`;
  return `${head} ${inspect(shown, { ...options, depth: 2 })}`;
}

// Shared behaviour: a JSON form and a log form with the message, code and
// attribute names.
function installBase(Base) {
  Object.defineProperty(Base.prototype, Symbol.for('nodejs.util.inspect.custom'), {
    value: inspectError,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(Base.prototype, 'toJSON', {
    value: function toJSON() {
      const out = { name: this.name, code: this.code, message: this.message };
      for (const k of Object.keys(this)) out[k] = this[k];
      return out;
    },
    writable: true,
    configurable: true,
  });
}

/** Rebuilds the typed error from a native rejection (anything else passes). */
function rebuild(err) {
  const data = err && typeof err === 'object' ? err.alter : undefined;
  if (!data || typeof data !== 'object') return err;
  const Cls = classes[data.kind];
  if (!Cls) {
    if (data.kind === 'AbortError') {
      const e = new Error(data.message);
      e.name = 'AbortError';
      return e;
    }
    return err;
  }
  const e = new Cls(data.message, { details: data.details ?? {}, code: data.code, ...(data.attributes ?? {}) });
  // The SDK's own frames are noise: the stack starts at the caller.
  Error.captureStackTrace(e, rebuild);
  return e;
}

function init(table) {
  define(table);
  installBase(classes.AlterSDKError);
  return classes;
}

module.exports = { init, rebuild, classes, codes, attributeNames };
