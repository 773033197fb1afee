// Connect recovery sessions, headless connect() with an injected opener,
// spans.emit and the request-rule builders, against the local vault.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  App,
  AlterValueError,
  ConnectDeniedError,
  CredentialRevokedError,
  GrantNotFoundError,
  NoDelegatedGrantError,
  contentMatchRule,
  requestRule,
  timeWindows,
  type ConnectEvent,
  type ConnectResult,
} from "@alter-ai/alter-sdk";
import { LocalVault } from "@alter-ai/alter-sdk/testing";

let vault: LocalVault;
before(async () => {
  vault = await LocalVault.start();
});
after(async () => {
  await vault.stop();
});

test("createConnectSessionForError: a missing delegation becomes a delegation session", async () => {
  const { id: agentId, apiKey } = await vault.newAgent("recovering-bot");
  const user = await vault.admin.createUser("recover@example.com");
  const agent = vault.agent(apiKey);
  const app = vault.app();
  try {
    const e = await agent
      .request("GET", vault.echoUrl("/cal"), { provider: "google", userToken: user.userToken })
      .catch((x: unknown) => x);
    assert.ok(e instanceof NoDelegatedGrantError || e instanceof GrantNotFoundError, String(e));
    assert.equal(e.providerId, "google");

    const session = await app.createConnectSessionForError(e, { userToken: user.userToken });
    assert.ok(session.sessionToken.length > 0);
    const stored = await vault.admin.connectSession(session.sessionToken);
    assert.deepEqual(stored.providers, ["google"]);
    if (e instanceof NoDelegatedGrantError) assert.equal(stored.agentId, agentId);

    // A hand-built error works the same way (a user subclass too).
    class MyError extends NoDelegatedGrantError {}
    const built = new MyError("no delegation", { providerId: "google", agentId });
    const s2 = await app.createConnectSessionForError(built, { userToken: user.userToken });
    const stored2 = await vault.admin.connectSession(s2.sessionToken);
    assert.equal(stored2.agentId, agentId);
    assert.deepEqual(stored2.providers, ["google"]);
  } finally {
    await agent.close();
    await app.close();
  }
});

test("createConnectSessionForError: a revoked credential is repaired in place", async () => {
  const user = await vault.admin.createUser("repair@example.com");
  const ids = await vault.admin.createOAuthGrant({ providerId: "google", userId: user.userId, accessToken: "ya29.test" });
  const app = vault.app();
  try {
    const e = new CredentialRevokedError("revoked", { grantId: ids.grantId, providerId: "google" });
    const session = await app.createConnectSessionForError(e, { userToken: user.userToken });
    const stored = await vault.admin.connectSession(session.sessionToken);
    assert.deepEqual(stored.providers, ["google"]);

    // The grant to repair is gone: an ordinary re-consent instead.
    const gone = new CredentialRevokedError("revoked", {
      grantId: "00000000-0000-4000-8000-000000000000",
      providerId: "google",
    });
    const fresh = await app.createConnectSessionForError(gone, { userToken: user.userToken });
    assert.deepEqual((await vault.admin.connectSession(fresh.sessionToken)).providers, ["google"]);
  } finally {
    await app.close();
  }
});

test("createConnectSessionForError refuses errors it cannot recover from", async () => {
  const app = vault.app();
  try {
    for (const bad of [
      new AlterValueError("nope"),
      new Error("plain"),
      new NoDelegatedGrantError("no agent", { providerId: "google" }),
      new GrantNotFoundError("no provider"),
    ]) {
      const e = await app.createConnectSessionForError(bad as never).catch((x: unknown) => x);
      assert.ok(e instanceof AlterValueError, `${String(bad)} -> ${String(e)}`);
    }
    const e = await app
      .createConnectSessionForError(new GrantNotFoundError("x", { providerId: "google" }), { bogus: 1 } as never)
      .catch((x: unknown) => x);
    assert.ok(e instanceof AlterValueError);
    assert.match(e.message, /unknown option 'bogus'/);
  } finally {
    await app.close();
  }
});

test("pollConnectSession: onEvent hears each declined provider once while the poll goes on", async () => {
  const user = await vault.admin.createUser("picker@example.com");
  const app = vault.app();
  try {
    const session = await app.createConnectSession({
      allowedProviders: ["google", "github"],
      userToken: user.userToken,
    });
    const token = session.sessionToken;
    await vault.admin.completeConnect(token, "decline", { providerId: "github" });

    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    const events: ConnectEvent[] = [];
    let heard!: () => void;
    const firstEvent = new Promise<void>((resolve) => (heard = resolve));
    const polled = app.pollConnectSession(token, {
      timeout: 20,
      pollInterval: 0.05,
      onEvent: (e) => {
        events.push(e);
        heard();
        throw new Error("a failing listener does not end the poll");
      },
    });
    // The user finishes with the other provider only once the decline was heard.
    await firstEvent;
    await vault.admin.completeConnect(token, "approve", { providers: ["google"] });
    const results = await polled;
    assert.deepEqual(
      results.map((r) => r.providerId),
      ["google"],
    );
    assert.equal(events.length, 1, "reported once, though every poll lists it");
    assert.equal(events[0].type, "provider_declined");
    assert.equal(events[0].providerId, "github");
    assert.equal(events[0].errorCode, "connect_denied");
    assert.equal(typeof events[0].declinedAt, "string");
    process.off("warning", onWarning);
    assert.ok(
      warnings.some((w) => w.includes("onEvent failed") && w.includes("a failing listener")),
      JSON.stringify(warnings),
    );

    // A callback that is not a function is refused before anything is sent;
    // an operation that reports nothing takes none.
    const bad = await app
      .pollConnectSession(token, { onEvent: "log" as never })
      .catch((x: unknown) => x);
    assert.ok(bad instanceof AlterValueError, String(bad));
    const unknown = await app
      .pollAuthSession("tok", { onEvent: () => {} } as never)
      .catch((x: unknown) => x);
    assert.ok(unknown instanceof AlterValueError, String(unknown));
    assert.match((unknown as Error).message, /onEvent/);
  } finally {
    await app.close();
  }
});

test("connect(): the injected opener completes consent; results come back", async () => {
  const user = await vault.admin.createUser("headless@example.com");
  const app = vault.app({ userTokenGetter: () => user.userToken });
  try {
    const opened: string[] = [];
    const results: ConnectResult[] = await app.connect({
      providers: ["google"],
      timeout: 20,
      pollInterval: 0.05,
      openBrowser: async (url) => {
        opened.push(url);
        const token = new URL(url).pathname.split("/").pop()!;
        await vault.admin.completeConnect(token, "approve");
      },
    });
    assert.equal(opened.length, 1);
    assert.match(opened[0], /^https?:\/\//);
    assert.equal(results.length, 1);
    assert.equal(results[0].providerId, "google");
    assert.ok(results[0].grantId.length > 0);

    // A synchronous opener that denies: the flow ends with ConnectDeniedError.
    const denied = await app
      .connect({
        providers: ["google"],
        timeout: 20,
        pollInterval: 0.05,
        openBrowser: (url) => {
          void vault.admin.completeConnect(new URL(url).pathname.split("/").pop()!, "deny");
        },
      })
      .catch((x: unknown) => x);
    assert.ok(denied instanceof ConnectDeniedError, String(denied));

    // Options are checked before anything is minted.
    const bad = await app.connect({ timeout: 0 }).catch((x: unknown) => x);
    assert.ok(bad instanceof AlterValueError, String(bad));
    const badOpener = await app.connect({ openBrowser: "yes" as never }).catch((x: unknown) => x);
    assert.ok(badOpener instanceof AlterValueError, String(badOpener));
  } finally {
    await app.close();
  }
});

test("connect(): an aborted signal cancels the wait", async () => {
  const app = vault.app();
  try {
    const ctl = new AbortController();
    const p = app.connect({
      providers: ["google"],
      timeout: 30,
      pollInterval: 0.05,
      openBrowser: () => {
        setTimeout(() => ctl.abort(new Error("stop")), 50);
      },
      signal: ctl.signal,
    });
    await assert.rejects(p, /stop/);

    // An opener that never settles does not hold the call past its abort.
    const ctl2 = new AbortController();
    const stuck = app.connect({
      providers: ["google"],
      openBrowser: () => {
        setTimeout(() => ctl2.abort(new Error("gave up")), 50);
        return new Promise<void>(() => {});
      },
      signal: ctl2.signal,
    });
    await assert.rejects(stuck, /gave up/);
    // The client still works afterwards.
    assert.ok((await app.createConnectSession({ allowedProviders: ["google"] })).sessionToken);
  } finally {
    await app.close();
  }
});

test("spans.emit stores spans; local validation is an AlterValueError", async () => {
  const { apiKey } = await vault.newAgent("span-writer");
  const agent = vault.agent(apiKey);
  try {
    const start = new Date("2026-05-01T12:00:00Z");
    const r = await agent.spans.emit([
      { traceId: "t1", name: "plan", startTime: start, spanId: "s1", attributes: { step: "1" } },
      {
        traceId: "t1",
        name: "call",
        startTime: "2026-05-01T12:00:01.25Z",
        endTime: start.getTime() + 2000,
        spanId: "s2",
        parentSpanId: "s1",
      },
    ]);
    assert.equal(r.accepted, 2);
    const again = await agent.spans.emit([{ traceId: "t1", name: "plan", startTime: start, spanId: "s1" }]);
    assert.equal(again.accepted, 0);

    for (const bad of [
      [],
      [{ traceId: "", name: "n", startTime: start }],
      [{ traceId: "t", name: "n", startTime: start, spanId: "x".repeat(33) }],
      [{ traceId: "t", name: "n", startTime: "yesterday" }],
      [{ traceId: "t", name: "n", startTime: start, attributes: { n: 1 } }],
      [{ traceId: "t", name: "n", startTime: start, bogus: true }],
      Array.from({ length: 51 }, (_, i) => ({ traceId: "t", name: `n${i}`, startTime: start })),
    ]) {
      const e = await agent.spans.emit(bad as never).catch((x: unknown) => x);
      assert.ok(e instanceof AlterValueError, `${JSON.stringify(bad).slice(0, 80)} -> ${String(e)}`);
    }
  } finally {
    await agent.close();
  }
});

test("contentMatchRule builds the wire rule; withConstraints accepts it", async () => {
  const rule = contentMatchRule({
    operations: ["calendar.events.insert"],
    params: [{ name: "attendees", op: "not_subset_of", value: ["*@example.org"] }],
  });
  assert.deepEqual(rule, {
    ruleType: "content_match",
    ruleBody: {
      match: { operations: ["calendar.events.insert"] },
      params: [{ name: "attendees", op: "not_subset_of", value: ["*@example.org"] }],
      effect: "deny",
    },
  });
  const redact = contentMatchRule({ families: ["send"], effect: "redact", redactFields: ["cc"] });
  assert.deepEqual(redact.ruleBody, { match: { families: ["send"] }, effect: "redact", redact: { fields: ["cc"] } });
  const stepUp = contentMatchRule({ families: ["payment"], effect: "step_up", maxSessionAgeSeconds: 300 });
  assert.deepEqual(stepUp.ruleBody.step_up, { max_session_age_seconds: 300 });

  const windows = timeWindows({ windows: [{ days: ["mon", "tue"], start: "09:00", end: "17:00" }], timezone: "Europe/Paris" });
  const offHours = contentMatchRule({
    families: ["write"],
    params: [{ name: "when", op: "outside_windows", value: windows }],
  });
  assert.deepEqual((offHours.ruleBody.params as unknown[])[0], { name: "when", op: "outside_windows", value: windows });

  assert.deepEqual(requestRule("custom", { a_b: 1 }), { ruleType: "custom", ruleBody: { a_b: 1 } });

  for (const bad of [
    () => contentMatchRule({}),
    () => contentMatchRule({ families: ["fly" as never] }),
    () => contentMatchRule({ families: ["send"], effect: "redact" }),
    () => contentMatchRule({ families: ["send"], redactFields: ["cc"] }),
    () => contentMatchRule({ families: ["send"], effect: "step_up", maxSessionAgeSeconds: 0 }),
    () => contentMatchRule({ families: ["send"], params: [{ name: "n", op: "gt", value: "x" }] }),
    () => contentMatchRule({ families: ["send"], bogus: 1 } as never),
    () => timeWindows({ windows: [{ days: ["mon"], start: "09:00", end: "09:00" }], timezone: "Europe/Paris" }),
    () => timeWindows({ windows: [{ days: ["mon"], start: "09:00", end: "10:00" }], timezone: "europe/paris" }),
    () => requestRule("", {}),
    () => requestRule("x", [] as never),
  ]) {
    assert.throws(bad, AlterValueError);
  }

  const app = vault.app();
  try {
    const bound = app.withConstraints({ rule });
    assert.ok(bound instanceof App);
    await bound.close();
  } finally {
    await app.close();
  }
});
