'use strict';
// The provider's response to `request()`, shaped after the Fetch API's
// `Response`: status, ok, statusText, headers (a real `Headers`), url and the
// body readers. The body is held in memory, so it can be read more than once.

const { inspect } = require('node:util');
const { STATUS_CODES } = require('node:http');

const decoder = new TextDecoder('utf-8');

class AlterResponse {
  #body;

  /** @internal Built by the SDK from the native response. */
  constructor(raw) {
    const body = raw.body instanceof Uint8Array ? raw.body : Buffer.alloc(0);
    this.#body = body;
    const headers = new Headers();
    for (const [name, value] of raw.headers ?? []) {
      try {
        headers.append(name, value);
      } catch {
        // A header value no Headers object accepts (not a ByteString).
      }
    }
    const ro = (k, v) => Object.defineProperty(this, k, { value: v, enumerable: true });
    ro('status', raw.status);
    ro('statusText', STATUS_CODES[raw.status] ?? '');
    ro('ok', raw.status >= 200 && raw.status < 300);
    ro('headers', headers);
    ro('url', raw.url ?? '');
    ro('redirected', false);
    ro('type', 'basic');
    /** The backend's credential-refresh retries, when it reported any. */
    ro('retryInfo', raw.retryInfo ?? null);
    /** How many attempts the `/sdk/token` call took (1 without retries). */
    ro('backendAttempts', raw.backendAttempts ?? 1);
    /** Time spent on the provider exchange, in milliseconds. */
    ro('elapsedMs', raw.elapsedMs ?? 0);
  }

  /** Always false: the body is buffered and may be read again. */
  get bodyUsed() {
    return false;
  }

  /** The body as a fresh `ReadableStream` of bytes (null when empty). */
  get body() {
    if (this.#body.length === 0) return null;
    return new Blob([this.#body]).stream();
  }

  async arrayBuffer() {
    const b = this.#body;
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }

  async bytes() {
    return new Uint8Array(this.#body);
  }

  async blob() {
    return new Blob([this.#body], { type: this.headers.get('content-type') ?? '' });
  }

  async text() {
    return decoder.decode(this.#body);
  }

  async json() {
    return JSON.parse(decoder.decode(this.#body));
  }

  clone() {
    return new AlterResponse({
      status: this.status,
      headers: [...this.headers],
      body: Buffer.from(this.#body),
      url: this.url,
      retryInfo: this.retryInfo,
      backendAttempts: this.backendAttempts,
      elapsedMs: this.elapsedMs,
    });
  }

  toJSON() {
    return {
      status: this.status,
      ok: this.ok,
      url: this.url,
      headers: Object.fromEntries(this.headers),
      retryInfo: this.retryInfo,
      backendAttempts: this.backendAttempts,
    };
  }

  [inspect.custom](depth, options, inspectFn = inspect) {
    const shown = { ...this.toJSON(), bodyLength: this.#body.length };
    return `AlterResponse ${inspectFn(shown, { ...options, depth: options.depth == null ? null : options.depth - 1 })}`;
  }

  get [Symbol.toStringTag]() {
    return 'AlterResponse';
  }
}

module.exports = { AlterResponse };
