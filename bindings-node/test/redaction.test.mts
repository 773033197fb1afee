// Secrets never appear in util.inspect or JSON.stringify of clients,
// results or errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect, format } from "node:util";
import {
  App, Agent, AlterSDKError, AlterValueError, ProviderAPIError, ProviderUnauthorizedError,
} from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

function assertHidden(value: unknown, secrets: string[], what: string) {
  const forms = [
    inspect(value),
    inspect(value, { depth: Infinity, showHidden: true }),
    JSON.stringify(value) ?? "",
    String(value),
  ];
  for (const form of forms) {
    for (const s of secrets) {
      assert.ok(!form.includes(s), `${what} shows a secret: ${form}`);
    }
  }
}

test("clients never show their API key", async () => {
  const app = new App({ apiKey: vault.appApiKey, baseUrl: vault.baseUrl, logger: { warn() {} } });
  const sibling = app.withConstraints({ scopes: ["tokens:retrieve"] });
  assertHidden(app, [vault.appApiKey], "App");
  assertHidden(sibling, [vault.appApiKey], "constrained App");
  assertHidden(app.agents, [vault.appApiKey], "agents namespace");
  assertHidden(vault, [vault.appApiKey, vault.adminToken], "LocalVault");
  assert.match(inspect(app), /^App \{/);
  await app.close();
  assertHidden(app, [vault.appApiKey], "closed App");
});

test("results holding a one-time key redact it (read it explicitly)", async () => {
  const app = vault.app();
  try {
    const created = await app.agents.create({ name: "secretive" });
    const key = created.apiKey!;
    assert.ok(key.length > 20, "the key is readable as a field");
    assertHidden(created, [key], "AgentCreateResult");
    assert.match(inspect(created), /apiKey: '<redacted>'/);
    const minted = await app.agents.mintKey(created.id);
    assertHidden(minted, [minted.apiKey!], "AgentKeyMintResult");

    const agent = new Agent({ apiKey: key, baseUrl: vault.baseUrl, logger: { warn() {} } });
    assertHidden(agent, [key], "Agent");
    const me = await agent.me();
    assertHidden(me, [key], "AgentInfo");
    await agent.close();
  } finally {
    await app.close();
  }
});

test("errors and responses carry no key or credential", async () => {
  const { id, apiKey } = await vault.newAgent("errs");
  const secret = "provider-credential-xyz";
  const grant = await vault.boundSecret("acme", secret, id);
  const agent = vault.agent(apiKey);
  try {
    const err = await agent.request("GET", vault.echoUrl("/x"), { provider: "google" }).catch((e: unknown) => e);
    assert.ok(err instanceof AlterSDKError);
    assertHidden(err, [apiKey, vault.appApiKey], "error");
    assertHidden((err as AlterSDKError).toJSON(), [apiKey], "error JSON");

    const status = await agent
      .request("GET", vault.providerUrl("/status/500"), { grantId: grant })
      .catch((e: unknown) => e);
    assertHidden(status, [apiKey, secret], "provider error");

    const response = await agent.request("GET", vault.echoUrl("/y"), { grantId: grant });
    // The provider's own response is shown (headers and size, not the body).
    assertHidden(response, [apiKey], "response");
    assert.match(inspect(response), /^AlterResponse \{/);
  } finally {
    await agent.close();
  }
});

test("util.inspect and console.log of an error show no detail or attribute values", () => {
  const secret = "s3cr3t-in-details-8d1e";
  const err = new ProviderAPIError("Provider API returned error 500", {
    details: { body: secret, url: `https://h.example/?k=${secret}`, nested: { deep: secret } },
    statusCode: 500,
    responseBody: secret,
  });
  // What console.log prints is util.format of its arguments.
  for (const form of [
    inspect(err),
    inspect(err, { depth: Infinity, showHidden: true }),
    format(err),
    format("%o", err),
    format("%O", err),
    inspect({ wrapped: err }),
    String(err),
  ]) {
    assert.ok(!form.includes(secret), form);
  }
  const shown = inspect(err);
  assert.match(shown, /^ProviderAPIError: Provider API returned error 500\n/);
  assert.match(shown, /code: 'provider_api'/);
  assert.match(shown, /details: \[ 'body', 'url', 'nested' \]/);
  assert.match(shown, /'responseBody'/);
  // The values are still there to be read on purpose.
  assert.equal(err.details.body, secret);
  assert.equal(err.responseBody, secret);
});

test("a provider echoing the credential gets it into no error or audit row", async () => {
  const secret = "tok-node-ECHOED-93af";
  const grant = await vault.boundSecret("node-echoer", secret);
  const app = vault.app();
  try {
    for (const [status, cls] of [[401, ProviderUnauthorizedError], [500, ProviderAPIError]] as const) {
      const err = await app
        .request("GET", vault.echoUrl(`/leak?echo_status=${status}&echo_headers=1`), { grantId: grant })
        .catch((e: unknown) => e);
      assert.ok(err instanceof cls, String(err));
      assertHidden(err, [secret], `echoed ${status}`);
      assert.ok(!JSON.stringify((err as ProviderAPIError).toJSON()).includes(secret));
      assert.ok(String((err as ProviderAPIError).responseBody).includes('"authorization":"<redacted>"'));
    }
    // Refused before the token fetch: a framing header, a CR/LF value.
    for (const [name, value] of [["Transfer-Encoding", "chunked"], ["X-Trace", "1\r\nX-Injected: 1"]]) {
      const headers: Record<string, string> = { [name]: value };
      const err = await app
        .request("GET", vault.echoUrl("/never"), { grantId: grant, headers })
        .catch((e: unknown) => e);
      assert.ok(err instanceof AlterValueError, String(err));
      assert.ok((err as Error).message.includes(`'${name}'`), (err as Error).message);
    }
  } finally {
    await app.close();
  }
  const rows = (await vault.admin.audit()).filter((e) => e.grantId === grant);
  assert.equal(rows.filter((e) => e.kind === "token").length, 2, "no token for the refused calls");
  const calls = rows.filter((e) => e.kind === "api_call");
  assert.equal(calls.length, 2);
  for (const row of calls) {
    assert.ok(!JSON.stringify(row).includes(secret), JSON.stringify(row));
    assert.equal(row.details, null, "the vault saw the credential in the posted row");
    assert.equal(row.responseHeaders["x-echo-authorization"], "<redacted>");
  }
});
