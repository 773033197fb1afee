// JavaScript callbacks the core calls from its runtime: userTokenGetter and
// the logger.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { App, AlterSDKError, GrantNotFoundError, NoDelegatedGrantError } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("userTokenGetter is awaited per call; its failure carries nothing", async () => {
  const { userToken } = await vault.admin.createUser("getter@example.com");
  let calls = 0;
  const app = new App({
    apiKey: vault.appApiKey,
    baseUrl: vault.baseUrl,
    logger: { warn() {} },
    userTokenGetter: async () => {
      calls++;
      return userToken;
    },
  });
  try {
    const e = await app.request("GET", vault.echoUrl("/cal"), { provider: "google" }).catch((x: unknown) => x);
    assert.ok(e instanceof GrantNotFoundError || e instanceof NoDelegatedGrantError, String(e));
    assert.equal(calls, 1);
  } finally {
    await app.close();
  }

  const failing = new App({
    apiKey: vault.appApiKey,
    baseUrl: vault.baseUrl,
    logger: { warn() {} },
    userTokenGetter: () => {
      throw new Error("eyJ-secret-token-in-message");
    },
  });
  try {
    const e = await failing.request("GET", vault.echoUrl("/cal"), { provider: "google" }).catch((x: unknown) => x);
    assert.ok(e instanceof AlterSDKError);
    assert.equal(e.message, "user_token_getter failed");
    assert.ok(!JSON.stringify(e).includes("eyJ-secret"));
  } finally {
    await failing.close();
  }
});

test("warnings reach the logger", { timeout: 20_000 }, async () => {
  let deliver: (m: string) => void = () => {};
  const first = new Promise<string>((resolve) => (deliver = resolve));
  const app = new App({ apiKey: vault.appApiKey, baseUrl: vault.baseUrl, logger: { warn: (m) => deliver(m) } });
  // The plain-http warning is delivered on the event loop.
  assert.match(await first, /plain http/);
  await app.close();
});

test("an unclosed client with callbacks does not keep the process alive", () => {
  const code = `
    const { App } = require("@alter-ai/alter-sdk");
    new App({ apiKey: ${JSON.stringify(vault.appApiKey)}, baseUrl: "http://127.0.0.1:9",
              userTokenGetter: () => "t", logger: { warn() {} } });
  `;
  const r = spawnSync(process.execPath, ["-e", code], { timeout: 20_000, cwd: new URL("../..", import.meta.url) });
  assert.equal(r.status, 0, String(r.stderr));
});
