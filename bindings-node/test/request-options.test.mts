// Provider-call options go through the core's one option reader: what the
// echo provider receives shows each option arrived, in both modes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { AlterValueError, isApprovalResult } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("query, path params, extra headers and a raw body reach the provider", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("opts", "opts-secret", null);
  try {
    const r = await app.request("PUT", vault.echoUrl("/items/{id}"), {
      grantId: grant,
      queryParams: { q: "hello world", n: 5, tag: ["a", "b"] },
      pathParams: { id: 42 },
      extraHeaders: { "X-Trace": "t-1" },
      body: "raw!",
      reason: "node options test",
    });
    const seen = await r.json();
    assert.equal(seen.method, "PUT");
    assert.equal(seen.path, "/_provider/echo/items/42");
    assert.match(seen.query, /q=hello/);
    assert.match(seen.query, /n=5/);
    assert.match(seen.query, /tag=a/);
    assert.match(seen.query, /tag=b/);
    assert.equal(seen.headers["x-trace"], "t-1");
    assert.equal(seen.body, "raw!");

    const out = await app.proxyRequest("GET", vault.echoUrl("/items/{id}"), {
      grantId: grant,
      queryParams: { page: 2 },
      pathParams: { id: "7" },
      headers: { "X-Mode": "proxy" },
    });
    assert.ok(isApprovalResult(out));
    const proxied = out.bodyJson();
    assert.equal(proxied.path, "/_provider/echo/items/7");
    assert.match(proxied.query, /page=2/);
    assert.equal(proxied.headers["x-mode"], "proxy");

    // The pairs forms and the `query` alias, typed as published.
    const pairs = await app.request("GET", vault.echoUrl("/items/{id}"), {
      grantId: grant,
      query: [
        ["tag", "x"],
        ["tag", "y"],
        ["n", 3],
      ],
      pathParams: [["id", 9]],
      extraHeaders: [["X-Pair", "p-1"]],
    });
    const echoed = await pairs.json();
    assert.equal(echoed.path, "/_provider/echo/items/9");
    assert.match(echoed.query, /tag=x&tag=y&n=3/);
    assert.equal(echoed.headers["x-pair"], "p-1");
  } finally {
    await app.close();
  }
});

test("a bad option is refused before any call, naming it as spelt in JavaScript", async () => {
  const app = vault.app();
  try {
    const both = await app
      .request("GET", vault.echoUrl("/x"), { grantId: "g", headers: { a: "1" }, extraHeaders: { b: "2" } })
      .catch((x: unknown) => x);
    assert.ok(both instanceof AlterValueError);
    assert.match(both.message, /headers/);
    assert.match(both.message, /extraHeaders/);
    const bad = await app
      .request("GET", vault.echoUrl("/x"), { grantId: "g", pathParams: { id: true as unknown as string } })
      .catch((x: unknown) => x);
    assert.ok(bad instanceof AlterValueError);
    assert.match(bad.message, /pathParams/);
  } finally {
    await app.close();
  }
});
