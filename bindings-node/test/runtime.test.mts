// Cancellation and the event loop: an AbortSignal cancels the native call,
// and many concurrent requests never stall a timer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { HttpMethod } from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("an AbortSignal cancels an in-flight request", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("slow", "tok", null);
  // The provider holds this call for 30 s; the signal fires after 300 ms.
  await vault.admin.addFault({ pathPrefix: "/_provider/echo/slow", count: 1, delayMs: 30_000 });
  const started = performance.now();
  const err = await app
    .request(HttpMethod.GET, vault.echoUrl("/slow"), { grantId: grant, signal: AbortSignal.timeout(300) })
    .catch((e: unknown) => e);
  const elapsed = performance.now() - started;
  assert.ok(err instanceof DOMException, String(err));
  assert.equal(err.name, "TimeoutError", "rejects with the signal's reason, as fetch does");
  assert.ok(elapsed < 10_000, `settled after ${elapsed} ms`);

  // The native future was dropped: no provider exchange completed, so close()
  // has no audit post to wait for and nothing was audited.
  const closing = performance.now();
  await app.close();
  assert.ok(performance.now() - closing < 10_000);
  const audit = await vault.admin.audit();
  assert.ok(!audit.some((e) => e.kind === "api_call" && String(e.url ?? "").includes("/slow")));
});

test("an aborted signal rejects at once with its reason", async () => {
  const app = vault.app();
  try {
    const controller = new AbortController();
    const reason = new Error("stop");
    controller.abort(reason);
    const err = await app
      .request("GET", vault.echoUrl("/x"), { grantId: "00000000-0000-4000-8000-000000000000", signal: controller.signal })
      .catch((e: unknown) => e);
    assert.equal(err, reason);

    const c2 = new AbortController();
    const pending = app.awaitApproval("00000000-0000-4000-8000-000000000000", { timeout: 60, signal: c2.signal });
    c2.abort();
    const e2 = await pending.catch((e: unknown) => e);
    assert.ok(e2 instanceof DOMException && e2.name === "AbortError");
  } finally {
    await app.close();
  }
});

test("many concurrent requests do not block a timer on the event loop", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("busy", "tok", null);
  const n = 64;
  // Each provider call is held 200 ms by the vault: run one after another
  // (or on the event loop) they would take 12.8 s and starve the timer.
  await vault.admin.addFault({ pathPrefix: "/_provider/echo/busy", count: n, delayMs: 200 });
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const started = performance.now();
  try {
    const responses = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        app.request(HttpMethod.GET, vault.echoUrl(`/busy/${i}`), { grantId: grant }),
      ),
    );
    const elapsed = performance.now() - started;
    assert.ok(responses.every((r) => r.status === 200));
    assert.ok(elapsed < 8_000, `concurrent, not serial: ${elapsed} ms`);
    assert.ok(ticks >= 10, `the timer kept firing (${ticks} ticks in ${elapsed} ms)`);
    assert.ok(maxGap < 1_000, `the event loop never stalled (max gap ${maxGap} ms)`);
  } finally {
    clearInterval(timer);
    await app.close();
  }
});
