// The error classes: one table (the core's), the same hierarchy as the
// Python package, stable codes, camelCase attributes, and declarations that
// match the runtime classes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as sdk from "@alter-ai/alter-sdk";
import {
  AlterSDKError, AlterValueError, BackendError, GrantNotFoundError, AgentDelegationMissingError,
  RateLimitError, GrantRevokedError, ReAuthRequiredError, ProviderAPIError, ScopeReauthRequiredError,
  ProviderUnauthorizedError, NetworkError, TimeoutError, KeyRevokedError, KeyAlreadyRevokedError,
  InsufficientScopeError, HttpMethod, RestrictedGrantRequiresProxyError,
} from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

const require = createRequire(import.meta.url);
const native = require("../../index.js") as { errorKinds(): Array<{ name: string; parent: string | null; code: string }> };

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("every core error class is exported with the core's parent", () => {
  const table = native.errorKinds();
  // The protocol's 64 classes plus the SDK's own ResponseTooLargeError.
  assert.equal(table.length, 65);
  const exported = sdk as unknown as Record<string, any>;
  for (const { name, parent } of table) {
    const cls = exported[name];
    assert.equal(typeof cls, "function", `${name} is exported`);
    assert.equal(cls.name, name);
    const parentCls = parent ? exported[parent] : Error;
    assert.equal(Object.getPrototypeOf(cls), parentCls, `${name} extends ${parent}`);
    const e = new cls("m") as InstanceType<typeof AlterSDKError>;
    assert.ok(e instanceof Error && e.name === name && e.message === "m");
    assert.deepEqual(e.details, {});
  }
});

test("the declarations list every class with the same parent", () => {
  const dts = readFileSync(new URL("../../lib/index.d.ts", import.meta.url), "utf-8");
  const declared = new Map(
    [...dts.matchAll(/export declare class (\w+) extends (\w+)/g)].map((m) => [m[1], m[2]]),
  );
  for (const { name, parent } of native.errorKinds()) {
    assert.equal(declared.get(name), parent ?? "Error", `${name} declared extends ${parent}`);
  }
});

test("codes: wire codes for agent errors, snake_case class names otherwise", () => {
  assert.equal(new KeyRevokedError().code, "key_revoked");
  assert.equal(new KeyAlreadyRevokedError().code, "key_revoked");
  assert.equal(new GrantNotFoundError().code, "grant_not_found");
  assert.equal(new ProviderAPIError().code, "provider_api");
  assert.equal(new AlterSDKError().code, "alter_sdk");
  assert.equal(new TimeoutError().code, "timeout");
  assert.ok(new TimeoutError() instanceof NetworkError);
  const e = new RateLimitError("slow", { retryAfter: 3, details: { a: 1 } });
  assert.equal(e.retryAfter, 3);
  assert.equal(e.scope, null);
  assert.deepEqual(e.details, { a: 1 });
  assert.equal(String(e), "RateLimitError: slow", "the string form is the message only");
});

test("backend errors arrive typed, with camelCase attributes", async () => {
  const { id, apiKey } = await vault.newAgent("worker");
  const agent = vault.agent(apiKey, { disableRetry: true });
  const app = vault.app({ disableRetry: true });
  const url = vault.echoUrl("/x");
  try {
    const foreign = await vault.boundSecret("acme", "tok", null);
    const e1 = await agent.request("GET", url, { grantId: foreign }).catch((e: unknown) => e);
    assert.ok(e1 instanceof AgentDelegationMissingError);
    assert.ok(e1 instanceof GrantNotFoundError && e1 instanceof BackendError && e1 instanceof AlterSDKError);
    assert.equal(e1.statusCode, 404);

    const revoked = await vault.boundSecret("rev", "tok", id);
    await vault.admin.updateGrant(revoked, { revoked: true });
    const e2 = await agent.request("GET", url, { grantId: revoked }).catch((e: unknown) => e);
    assert.ok(e2 instanceof GrantRevokedError && e2 instanceof ReAuthRequiredError);

    const hitl = await vault.boundSecret("hitl", "tok", id);
    await vault.admin.updateGrant(hitl, { hitl: true });
    const e3 = await agent.request("GET", url, { grantId: hitl }).catch((e: unknown) => e);
    assert.ok(e3 instanceof RestrictedGrantRequiresProxyError);
    assert.equal(e3.details.error, "hitl_grant_requires_proxy", "details keep wire names");

    const grant = await vault.boundSecret("limited", "tok", null);
    await vault.admin.addFault({
      pathPrefix: "/sdk/token", count: 1, status: 429, retryAfter: 7,
      body: { detail: { error: "rate_limit_exceeded", message: "slow down", scope: "api_key", limit: 60, window_seconds: 60 } },
    });
    const e4 = await app.request(HttpMethod.GET, url, { grantId: grant }).catch((e: unknown) => e);
    assert.ok(e4 instanceof RateLimitError);
    assert.equal(e4.retryAfter, 7);
    assert.equal(e4.scope, "api_key");
    assert.equal(e4.windowSeconds, 60);
    assert.equal(e4.message, "slow down");
  } finally {
    await agent.close();
    await app.close();
  }
});

test("provider errors: ProviderAPIError family", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("prov", "tok", null);
  try {
    const e1 = await app.request("GET", vault.providerUrl("/status/503"), { grantId: grant }).catch((e: unknown) => e);
    assert.ok(e1 instanceof ProviderAPIError && !(e1 instanceof BackendError));
    assert.equal(e1.statusCode, 503);
    assert.equal(e1.message, "Provider API returned error 503");
    const e2 = await app.request("GET", vault.providerUrl("/status/401"), { grantId: grant }).catch((e: unknown) => e);
    assert.ok(e2 instanceof ProviderUnauthorizedError && e2 instanceof ProviderAPIError);
    assert.equal(e2.grantId, grant);
    const challenge = encodeURIComponent('Bearer error="insufficient_scope", scope="a b"');
    const e3 = await app
      .request("GET", vault.providerUrl(`/status/403?www_authenticate=${challenge}`), { grantId: grant })
      .catch((e: unknown) => e);
    assert.ok(e3 instanceof ScopeReauthRequiredError);
    assert.deepEqual(e3.missingScopes, ["a", "b"]);
  } finally {
    await app.close();
  }
});

test("client-side validation: AlterValueError, including unknown options", async () => {
  const app = vault.app();
  try {
    const e1 = await app.request("GET", vault.echoUrl("/x"), { grantID: "g" } as never).catch((e: unknown) => e);
    assert.ok(e1 instanceof AlterValueError);
    assert.match(e1.message, /unknown option 'grantID'/);
    const e2 = await app.request("GET", vault.echoUrl("/x"), {}).catch((e: unknown) => e);
    assert.ok(e2 instanceof AlterSDKError);
    assert.equal(e2.message, "Provide grant_id or provider");
    assert.throws(() => new sdk.Agent({ apiKey: "not-a-key" }), (e: unknown) => e instanceof AlterSDKError);
    assert.throws(() => app.withConstraints({}), (e: unknown) => e instanceof AlterValueError);
    // Methods whose only option is `signal` refuse anything else, before any call.
    const e3 = await app.agents.get("00000000-0000-4000-8000-000000000000", { bogus: 1 } as never).catch((e: unknown) => e);
    assert.ok(e3 instanceof AlterValueError);
    assert.match(e3.message, /unknown option 'bogus'/);
    const e4 = await app.agents.getByName("nobody", { signal: undefined, verbose: true } as never).catch((e: unknown) => e);
    assert.ok(e4 instanceof AlterValueError);
    assert.match(e4.message, /unknown option 'verbose'/);
  } finally {
    await app.close();
  }
  const closed = await app.request("GET", vault.echoUrl("/x"), { grantId: "00000000-0000-4000-8000-000000000000" }).catch((e: unknown) => e);
  assert.ok(closed instanceof AlterSDKError);
  assert.match(closed.message, /has been closed/);
});

test("InsufficientScopeError carries its Python twin's fields in camelCase", () => {
  const e = new InsufficientScopeError("no", { required: ["a"], granted: [], missing: ["a"] });
  assert.deepEqual(e.required, ["a"]);
  assert.equal(e.scopeVersionMismatch, null);
  assert.ok("documentationUrl" in e && "requiredAnyOf" in e && "docsUrl" in e);
});
