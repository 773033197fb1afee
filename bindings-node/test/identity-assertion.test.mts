// verifyIdentityAssertion: an assertion from the local vault, checked offline
// against the key set the vault publishes; refusals carry a coarse reason.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { AlterValueError, MemoryIsolationError, verifyIdentityAssertion } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("an assertion verifies offline; a forged or misbound one is refused", async () => {
  const user = await vault.admin.createUser("quinn@example.com");
  const app = vault.app();
  try {
    const assertion = await app.assertIdentity({
      audience: "https://mcp.example.com",
      userToken: user.userToken,
    });
    const jwks = (await (await fetch(`${vault.baseUrl}/.well-known/jwks.json`)).json()) as {
      keys: Array<Record<string, unknown>>;
    };
    const trusted = {
      issuer: vault.baseUrl,
      audience: "https://mcp.example.com",
      jwks,
      expectedAppId: vault.appId,
    };
    const who = verifyIdentityAssertion(assertion.token, trusted);
    assert.equal(who.appId, vault.appId);
    assert.equal(who.appUserId, assertion.identity.appUserId);
    assert.equal(who.userStatus, "active");
    assert.equal(who.agentId, null);

    const [head, body, sig] = assertion.token.split(".");
    const reasonOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof MemoryIsolationError, String(e));
        assert.equal(e.code, "memory_assertion_invalid");
        assert.ok(!e.message.includes(sig) && !JSON.stringify(e.details).includes(sig));
        return String((e.details as Record<string, unknown>).reason);
      }
      assert.fail("accepted");
    };
    assert.equal(
      reasonOf(() => verifyIdentityAssertion(`${head}.${body}.${sig.slice(0, -4)}AAAA`, trusted)),
      "signature",
    );
    assert.equal(
      reasonOf(() => verifyIdentityAssertion(assertion.token, { ...trusted, expectedAppId: "another-app" })),
      "binding",
    );
    assert.equal(
      reasonOf(() => verifyIdentityAssertion(assertion.token, { ...trusted, audience: "https://elsewhere" })),
      "claims",
    );
    assert.throws(
      () => verifyIdentityAssertion(assertion.token, { ...trusted, jwks: [] as never }),
      (e: unknown) => e instanceof AlterValueError && /jwks/.test(e.message),
    );
    assert.throws(
      () => verifyIdentityAssertion(assertion.token, { ...trusted, bogus: 1 } as never),
      (e: unknown) => e instanceof AlterValueError && /bogus/.test(e.message),
    );
  } finally {
    await app.close();
  }
});
