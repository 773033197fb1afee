// Bounded memory and a bounded shutdown: provider bodies are read under
// `maxResponseBytes`, close({ timeout }) gives up on audit posts the backend
// holds, and a process that never closes its client still delivers its
// audit rows (the `beforeExit` flush).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AlterSDKError, AlterValueError, App, ResponseTooLargeError } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

const MIB = 1024 * 1024;
const AUDIT = "/sdk/oauth/audit/api-call";
const CHILD = fileURLToPath(new URL("../../test/fixtures/bounds-child.mjs", import.meta.url));

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

function child(mode: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [CHILD, mode], {
    env: { ...process.env, ...env },
    encoding: "utf-8",
    timeout: 240_000,
  });
}

test("maxResponseBytes is validated by the core", () => {
  const apiKey = vault.appApiKey;
  assert.equal(new App({ apiKey, baseUrl: vault.baseUrl }).maxResponseBytes, 64 * MIB);
  assert.equal(new App({ apiKey, baseUrl: vault.baseUrl, maxResponseBytes: MIB }).maxResponseBytes, MIB);
  for (const bad of [0, -1, 2 ** 30 + 1, 1.5, "1024"]) {
    assert.throws(
      () => new App({ apiKey, baseUrl: vault.baseUrl, maxResponseBytes: bad as number }),
      (e: unknown) => e instanceof AlterValueError && /maxResponseBytes|max_response_bytes/.test(e.message),
      String(bad),
    );
  }
});

test("a provider body over the cap fails typed and is audited as cut", async () => {
  const grant = await vault.boundSecret("cut", "tok-1", null);
  await vault.admin.addFault({
    pathPrefix: "/_provider/echo/cut", count: 1, status: 200, bodyBytes: 8 * MIB, contentLength: "none",
  });
  const app = vault.app({ maxResponseBytes: MIB });
  const err = await app.request("GET", vault.echoUrl("/cut"), { grantId: grant }).catch((e: unknown) => e);
  assert.ok(err instanceof ResponseTooLargeError, String(err));
  assert.ok(err instanceof AlterSDKError);
  assert.equal(err.maxBytes, MIB);
  assert.equal(err.details.source, "provider");
  await app.close();
  const rows = (await vault.admin.audit()).filter((r) => r.kind === "api_call" && String(r.url).endsWith("/cut"));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, 200);
  assert.equal(rows[0].responseBody, `<response body exceeded max_response_bytes (${MIB} bytes); not read>`);
});

test("peak memory stays bounded when a provider sends far more than the cap", { timeout: 240_000 }, () => {
  const out = JSON.parse(child("rss").trim().split("\n").pop()!);
  assert.equal(out.maxBytes, 64 * MIB);
  // Held up to the 64 MiB cap and no further; buffering all 256 MiB (and
  // copying it into a Buffer) would grow far more.
  assert.ok(out.growthKib < 128 * 1024, JSON.stringify(out));
});

test("close({ timeout }) gives up on held audit posts and counts them", { timeout: 60_000 }, async () => {
  const grant = await vault.boundSecret("held", "tok-1", null);
  // The vault holds these audit posts until it stops; without the deadline,
  // close() would wait for them (and this test would time out).
  await vault.admin.addFault({ pathPrefix: AUDIT, count: 2, delayMs: 600_000 });
  const app = vault.app();
  for (let i = 0; i < 2; i++) {
    await app.request("GET", vault.echoUrl("/held"), { grantId: grant });
  }
  await assert.rejects(app.close({ timeout: -1 }), AlterValueError);
  await app.close({ timeout: 0.2 });
  assert.equal(app.droppedReports, 2);
  await app.close({ timeout: 0 });
  assert.equal(app.droppedReports, 2);
});

test("a process that never closes its client still delivers the audit row", { timeout: 120_000 }, async () => {
  const grant = await vault.boundSecret("exit", "tok-1", null);
  // The first audit attempt is refused with Retry-After: 1, so the row is
  // still waiting to be retried when the child's event loop runs dry.
  await vault.admin.addFault({ pathPrefix: AUDIT, count: 1, status: 503, retryAfter: "1" });
  const url = vault.echoUrl("/exit");
  const out = child("exit", {
    ALTER_TEST_KEY: vault.appApiKey,
    ALTER_TEST_BASE_URL: vault.baseUrl,
    ALTER_TEST_URL: url,
    ALTER_TEST_GRANT: grant,
  });
  assert.equal(out.trim(), "200");
  const rows = (await vault.admin.audit()).filter((r) => r.kind === "api_call" && r.url === url);
  assert.equal(rows.length, 1);
});
