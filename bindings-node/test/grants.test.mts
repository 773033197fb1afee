// Grants, principals (object literals), Connect sessions, impersonation and
// trace(), against the local vault.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { App, Agent, AlterValueError, type UserPrincipal } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("guide Path A: a Connect session that delegates to an agent", async () => {
  const app = vault.app();
  try {
    const { id: agentId } = await vault.newAgent("research-bot");
    const user = { jwt: (await vault.admin.createUser("alice@example.com")).userToken };
    const session = await app.createConnectSession({
      allowedProviders: ["google"],
      userToken: user.jwt,
      agent: agentId,
    });
    assert.ok(session.sessionToken.length > 0);
    assert.match(session.connectUrl, /^https?:\/\//);
    assert.equal(typeof session.expiresIn, "number");
    assert.ok(!inspect(session).includes(session.connectUrl), "the URL is not logged");
  } finally {
    await app.close();
  }
});

test("managed-secret grants: principals as object literals; grantKind discriminates", async () => {
  const app = vault.app();
  try {
    const ms = await vault.admin.managedSecret("stripe", "sk_live_x");
    const alice = await vault.admin.createUser("alice2@example.com");
    const principal: UserPrincipal = { type: "user", userToken: alice.userToken, label: "alice-prod-stripe" };
    const r1 = await app.createManagedSecretGrant(ms, { principal, grantPolicy: { maxTtlSeconds: 30 * 86400 } });
    assert.equal(r1.principalType, "user");
    assert.equal(r1.label, "alice-prod-stripe");
    const r2 = await app.createManagedSecretGrant(ms, { principal: { type: "system", label: "payouts-cron-stripe" } });
    assert.equal(r2.principalType, "system");
    const bad = await app
      .createManagedSecretGrant(ms, { principal: { type: "user", user_token: "x", label: "l" } as never })
      .catch((e: unknown) => e);
    assert.ok(bad instanceof AlterValueError, String(bad));

    // App.listGrants returns the app's OAuth grants (the documented view).
    const page = await app.listGrants({ limit: 100 });
    assert.equal(typeof page.total, "number");
    for (const item of page.grants) {
      if (item.grantKind === "managed_secret") assert.equal(typeof item.managedSecretSlug, "string");
      else assert.equal(typeof item.providerId, "string");
    }
  } finally {
    await app.close();
  }
});

test("an agent lists its own grants and issues grants only to itself", async () => {
  const { id, apiKey } = await vault.newAgent("self-issuer");
  const grant = await vault.boundSecret("acme", "tok", id);
  const agent = vault.agent(apiKey);
  try {
    const page = await agent.listGrants();
    assert.ok(page.grants.some((g) => g.grantId === grant && g.grantKind === "managed_secret"));
    const e = await agent
      .createManagedSecretGrant("ms", { principal: { type: "system" } as never })
      .catch((x: unknown) => x);
    assert.ok(e instanceof AlterValueError);
  } finally {
    await agent.close();
  }
});

test("trace() scopes the audit context over nested calls", async () => {
  const { id, apiKey } = await vault.newAgent("tracer");
  const grant = await vault.boundSecret("traced", "tok", id);
  const researcher = new Agent({ apiKey, baseUrl: vault.baseUrl, logger: { warn() {} } });
  try {
    await researcher.trace({ runId: "run_abc", role: "research" }, async () => {
      // Every nested request() is tagged with researcher + run_abc.
      await researcher.request("GET", vault.echoUrl("/traced"), { grantId: grant });
    });
    assert.throws(() => researcher.trace({ runId: "r", role: 5 } as never, () => 1), AlterValueError);
  } finally {
    await researcher.close();
  }
  const audit = await vault.admin.audit();
  const row = audit.find((e) => e.kind === "api_call" && String(e.url ?? "").includes("/traced"));
  assert.ok(row, JSON.stringify(audit));
  assert.equal(row.context.run_id, "run_abc");
  assert.equal(row.context.role, "research");
});

test("App.getAgent impersonates a managed agent by name", async () => {
  const { id } = await vault.newAgent("billing-bot");
  const app = vault.app();
  try {
    const billingBot = await app.getAgent("billing-bot");
    assert.ok(billingBot instanceof Agent);
    assert.ok(!inspect(billingBot).includes(vault.appApiKey));
    await billingBot.close();
    const byId = await app.getAgent(id);
    assert.ok(byId instanceof Agent);
    await byId.close();
  } finally {
    await app.close();
  }
});
