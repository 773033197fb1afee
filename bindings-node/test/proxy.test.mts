// Proxy mode and approvals: a result or a pending approval, told apart by
// `status` and a type guard.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  HttpMethod, isPendingApproval, isApprovalResult, ApprovalResult, ApprovalDeniedError, ApprovalError,
  ApprovalTimeoutError, type ProxyOutcome,
} from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("a plain grant runs at once; the credential never reaches the SDK", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("acme", "proxy-secret", null);
  try {
    const out: ProxyOutcome = await app.proxyRequest(HttpMethod.POST, vault.echoUrl("/transfer"), {
      grantId: grant,
      json: { amount: 1000 },
      reason: "Quarterly payout",
    });
    assert.ok(isApprovalResult(out) && !isPendingApproval(out));
    assert.ok(out instanceof ApprovalResult);
    assert.equal(out.status, "executed");
    assert.equal(out.statusCode, 200);
    const echo = out.bodyJson();
    assert.equal(echo.headers.authorization, "Bearer proxy-secret");
    assert.equal(echo.body, '{"amount":1000}');
  } finally {
    await app.close();
  }
});

test("a HITL grant waits for a human; approve, deny and time out", async () => {
  const app = vault.app();
  const grant = await vault.boundSecret("hitl", "tok", null);
  await vault.admin.updateGrant(grant, { hitl: true });
  const pending = async (reason: string) => {
    const out = await app.proxyRequest("POST", vault.echoUrl("/transfer"), { grantId: grant, json: { amount: 5 }, reason });
    if (!isPendingApproval(out)) throw new Error("expected a pending approval");
    assert.equal(out.status, "pending");
    return out;
  };
  try {
    const p = await pending("payout");
    const status = await app.getApprovalStatus(p.approvalId);
    assert.equal(status.status, "pending");
    assert.equal(status.isTerminal, false);
    const waiter = app.awaitApproval(p.approvalId, { timeout: 30, pollInterval: 0.05 });
    await vault.admin.decide(p.approvalId, "approve");
    const result = await waiter;
    assert.equal(result.statusCode, 200);
    assert.equal(result.approvalId, p.approvalId);
    assert.equal(result.bodyJson().body, '{"amount":5}');

    const p2 = await pending("second");
    await vault.admin.decide(p2.approvalId, "deny", "not today");
    const e = await app.awaitApproval(p2.approvalId, { pollInterval: 0.05 }).catch((x: unknown) => x);
    assert.ok(e instanceof ApprovalDeniedError && e instanceof ApprovalError);
    assert.equal(e.message, "not today");
    assert.equal(e.approvalId, p2.approvalId);

    const p3 = await pending("third");
    const e3 = await app.awaitApproval(p3.approvalId, { timeout: 0 }).catch((x: unknown) => x);
    assert.ok(e3 instanceof ApprovalTimeoutError);
  } finally {
    await app.close();
  }
});
