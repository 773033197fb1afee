// "Managed-secret grants": principals are object literals (interfaces, not
// classes); the grant-list discriminator is grantKind.
import { App, Agent, type UserPrincipal, type SystemPrincipal } from "@alter-ai/alter-sdk";

declare const aliceJwt: string;
const app = new App({ apiKey: process.env.ALTER_API_KEY! });

// Issue a Stripe grant to a specific user
let result = await app.createManagedSecretGrant("ms_abc123", {
  principal: { type: "user", userToken: aliceJwt, label: "alice-prod-stripe" },
});
console.log(result.grantId);

// Issue a Stripe grant to an agent (the agent's own key signs the request).
const billingBot = await app.getAgent("billing-bot");
result = await billingBot.createManagedSecretGrant("ms_abc123", {
  principal: { type: "agent", label: "billing-bot-stripe" },
});

// Issue a system-wide grant (no principal binding)
const system: SystemPrincipal = { type: "system", label: "payouts-cron-stripe" };
result = await app.createManagedSecretGrant("ms_abc123", { principal: system });

// Setting a grant policy (TTL)
const alice: UserPrincipal = { type: "user", userToken: aliceJwt, label: "alice-prod-stripe" };
result = await app.createManagedSecretGrant("ms_abc123", {
  principal: alice,
  grantPolicy: { maxTtlSeconds: 30 * 86400 },
});

const vault = new Agent({ apiKey: process.env.AGENT_API_KEY! });
const page = await vault.listGrants({ limit: 100 });
for (const item of page.grants) {
  if (item.grantKind === "managed_secret") {
    console.log(item.grantId, item.managedSecretId, item.managedSecretSlug, item.label);
  } else {
    console.log(item.grantKind, item.providerId);
  }
}
await vault.close();
await app.close();
