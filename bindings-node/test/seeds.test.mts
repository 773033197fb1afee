// The seed documents' TypeScript flows, run against the local vault.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { App, Agent, HttpMethod, NoDelegatedGrantError, AgentInactiveError, AgentError, BackendError } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;

before(async () => {
  vault = await LocalVault.start();
  process.env.ALTER_BASE_URL = vault.baseUrl;
});

after(async () => {
  delete process.env.ALTER_BASE_URL;
  await vault.stop();
});

test("guide: provision an agent, bind a secret, the agent calls the provider", async () => {
  process.env.ALTER_API_KEY = vault.appApiKey;
  const step1 = await import("./seeds/create-agent.mjs");
  const [[, agentId], [, agentKey]] = step1.output as [[string, string], [string, string]];
  assert.match(agentId, /^[0-9a-f-]{36}$/);
  assert.ok(typeof agentKey === "string" && agentKey.length > 20, "the plaintext key is shown once");

  // Path B: the operator issues a managed secret to the agent.
  const secret = "sk-ant-local-test-credential-123";
  const grantId = await vault.boundSecret("anthropic", secret, agentId);

  process.env.AGENT_API_KEY = agentKey;
  process.env.ANTHROPIC_GRANT_ID = grantId;
  process.env.PROVIDER_URL = vault.echoUrl("/v1/messages");
  const step3 = await import("./seeds/agent-request.mjs");
  const [[status, echo]] = step3.output as [[number, any]];
  assert.equal(status, 200);
  assert.equal(echo.method, "POST");
  assert.equal(echo.headers.authorization, `Bearer ${secret}`);
  // The json body reached the provider verbatim (max_tokens, not maxTokens).
  assert.deepEqual(JSON.parse(echo.body).max_tokens, 1024);
  for (const name of Object.keys(echo.headers)) {
    assert.ok(!name.startsWith("x-alter") && name !== "x-api-key", `leaked ${name}`);
  }

  // The audit row carries the agent identity (close() waited for it).
  const audit = await vault.admin.audit();
  const row = audit.find((e) => e.kind === "api_call");
  assert.ok(row, "an api_call audit row");
  assert.equal(row.agentId, agentId);
  assert.equal(row.grantId, grantId);
  const whole = JSON.stringify(audit);
  assert.ok(!whole.includes(secret) && !whole.includes(agentKey));
});

test("guide: me() works while paused; any other call raises AgentInactiveError", async () => {
  const { id, apiKey } = await vault.newAgent("keyed");
  const grantId = await vault.boundSecret("acme", "tok", id);
  const app = vault.app();
  const agent = new Agent({ apiKey, logger: { warn() {} } });
  try {
    await app.agents.suspend(id);
    const err = await agent.request(HttpMethod.GET, vault.echoUrl("/x"), { grantId }).catch((e: unknown) => e);
    assert.ok(err instanceof AgentInactiveError);
    assert.ok(err instanceof AgentError && err instanceof BackendError);
    assert.equal(err.code, "agent_inactive");
    assert.equal(err.statusCode, 401);
    const me = await agent.me();
    assert.equal(me.name, "keyed");
    assert.equal(me.status, "inactive");
    await app.agents.resume(id);
    const ok = await agent.request(HttpMethod.GET, vault.echoUrl("/x"), { grantId });
    assert.equal(ok.status, 200);
    assert.ok(ok.ok);
  } finally {
    await agent.close();
    await app.close();
  }
});

test("guide: an agent with nothing delegated gets NoDelegatedGrantError", async () => {
  const { apiKey, id } = await vault.newAgent("lonely");
  const agent = vault.agent(apiKey);
  try {
    const err = await agent
      .request(HttpMethod.GET, vault.echoUrl("/calendar"), { provider: "google" })
      .catch((e: unknown) => e);
    assert.ok(err instanceof NoDelegatedGrantError, String(err));
    assert.ok(err instanceof BackendError);
    assert.equal(err.code, "no_delegated_grant");
    assert.equal(err.providerId, "google");
    assert.equal(err.agentId, id);
    assert.equal(err.statusCode, 404);
  } finally {
    await agent.close();
  }
});

test("agents namespace: keys lifecycle through the App", async () => {
  const app = new App({ apiKey: vault.appApiKey, logger: { warn() {} } });
  try {
    const created = await app.agents.create({ name: "ns-bot", displayName: "NS bot", metadata: { team_name: "x" } });
    assert.equal(created.displayName, "NS bot");
    assert.deepEqual(created.metadata, { team_name: "x" }, "free-form maps keep their keys");
    const got = await app.agents.getByName("ns-bot");
    assert.equal(got?.id, created.id);
    assert.equal(await app.agents.getByName("nobody"), null);
    const minted = await app.agents.mintKey(created.id);
    assert.ok(minted.apiKey && minted.apiKey.length > 20);
    assert.equal(minted.status, "active");
    const keys = await app.agents.listKeys(created.id);
    assert.equal(keys.items.length, 2);
    const dep = await app.agents.deprecateKey(created.id, minted.keyId);
    assert.equal(dep.status, "deprecated");
    const page = await app.agents.list({ limit: 10 });
    assert.ok(page.agents.some((a) => a.id === created.id));
    assert.equal(typeof page.hasMore, "boolean");
  } finally {
    await app.close();
  }
});
