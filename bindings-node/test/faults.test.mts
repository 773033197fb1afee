// Faults never crash or hang the caller: a panic in the native module is a
// typed AlterSDKError (thrown by a synchronous method, or rejecting an
// async one) and the process carries on; unusable seconds are refused by
// name before anything is sent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { AlterSDKError, AlterValueError, App, ApprovalTimeoutError, HttpMethod } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

const require = createRequire(import.meta.url);
type NativeError = Error & { alter?: { kind: string; message: string } };
// The native module and the JavaScript layer's rebuilding of its errors.
// The panic hooks exist in debug builds only (the test build is one).
const native = require("../../index.js") as {
  debugPanic(): void;
  NativeClient: new (kind: string, options: string) => {
    call(op: string, args: string, body?: Buffer, cancel?: unknown, ambient?: string, onEvent?: unknown): Promise<unknown>;
  };
};
const { rebuild } = require("../../lib/errors.js") as { rebuild(e: unknown): unknown };

const APPROVAL_ID = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00";
const UNUSABLE = [1e20, Infinity, -Infinity, NaN];

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

async function echoStatus(app: App, grantId: string): Promise<number> {
  const r = await app.request(HttpMethod.GET, vault.echoUrl("/after-panic"), { grantId });
  return r.status;
}

test("a panic in a synchronous native method throws AlterSDKError, and the process carries on", async () => {
  let thrown: unknown;
  try {
    native.debugPanic();
  } catch (e) {
    thrown = e;
  }
  const raw = thrown as NativeError;
  assert.equal(raw.alter?.kind, "AlterSDKError");
  const typed = rebuild(thrown);
  assert.ok(typed instanceof AlterSDKError, String(typed));
  assert.match((typed as Error).message, /^internal error in debugPanic: deliberate panic/);
  const app = vault.app();
  try {
    assert.equal(await echoStatus(app, await vault.boundSecret("sync-panic", "tok")), 200);
  } finally {
    await app.close();
  }
});

test("a panic in an async native call rejects its promise with AlterSDKError", async () => {
  const client = new native.NativeClient(
    "App",
    JSON.stringify({ apiKey: vault.appApiKey, baseUrl: vault.baseUrl }),
  );
  const err = await client.call("internal.panic", "[null]").then(
    () => assert.fail("the call must reject"),
    (e: unknown) => e,
  );
  assert.equal((err as NativeError).alter?.kind, "AlterSDKError");
  const typed = rebuild(err);
  assert.ok(typed instanceof AlterSDKError);
  assert.match(
    (typed as Error).message,
    /^internal error in the Alter SDK native module: deliberate panic \(test hook: internal\.panic\)$/,
  );
  const app = vault.app();
  try {
    assert.equal(await echoStatus(app, await vault.boundSecret("async-panic", "tok")), 200);
  } finally {
    await app.close();
  }
});

test("unusable seconds are refused by name before anything is sent", async () => {
  const app = vault.app();
  try {
    const checks: Array<[string, (v: number) => Promise<unknown>, boolean]> = [
      ["timeout", (v) => app.awaitApproval(APPROVAL_ID, { timeout: v }), false],
      ["pollInterval", (v) => app.awaitApproval(APPROVAL_ID, { pollInterval: v }), true],
      ["timeout", (v) => app.pollConnectSession("tok", { timeout: v }), true],
      ["pollInterval", (v) => app.pollConnectSession("tok", { pollInterval: v }), true],
      ["timeout", (v) => app.pollAuthSession("tok", { timeout: v }), true],
      ["pollInterval", (v) => app.pollAuthSession("tok", { pollInterval: v }), true],
    ];
    for (const [name, call, negativeRefused] of checks) {
      for (const v of negativeRefused ? [...UNUSABLE, -1] : UNUSABLE) {
        const err = await call(v).then(
          () => assert.fail(`${name}=${v} must be refused`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof AlterValueError, `${name}=${v}: ${String(err)}`);
        // The core names the argument in its own (snake_case) spelling;
        // the JSON check of a non-finite number names the option key.
        const spelled = name === "pollInterval" ? "poll_?interval" : name;
        assert.match(err.message, new RegExp(`'?${spelled}'? must be`, "i"), `${name}=${v}`);
      }
    }
    // A negative awaitApproval timeout has already passed: it times out at
    // once, without polling.
    const late = await app.awaitApproval(APPROVAL_ID, { timeout: -1 }).catch((e: unknown) => e);
    assert.ok(late instanceof ApprovalTimeoutError, String(late));
  } finally {
    await app.close();
  }
});

test("the constructor's timeout and retry seconds use the core's rule", () => {
  for (const timeout of [...UNUSABLE, 0, -1]) {
    assert.throws(
      () => new App({ apiKey: vault.appApiKey, timeout }),
      (e: unknown) => e instanceof AlterValueError && /timeout'? must be/.test(e.message),
      `timeout=${timeout}`,
    );
  }
  assert.throws(
    () => new App({ apiKey: vault.appApiKey, timeout: 1e20 }),
    (e: unknown) => e instanceof AlterValueError && e.message === "timeout must be at most 1000000000 seconds",
  );
  assert.throws(
    () => new App({ apiKey: vault.appApiKey, retry: { maxBackoff: 1e20 } }),
    (e: unknown) => e instanceof AlterValueError && e.message === "retry.maxBackoff must be at most 1000000000 seconds",
  );
  assert.throws(
    () => new App({ apiKey: vault.appApiKey, retry: { maxAttempts: 2 ** 32 + 1 } }),
    (e: unknown) => e instanceof AlterValueError && /maxAttempts must be at most/.test(e.message),
  );
});
