// Secrets never appear in util.inspect or JSON.stringify of clients,
// results or errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { App, Agent, AlterSDKError } from "@alter-ai/alter-sdk";
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
