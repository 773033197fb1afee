// Verbatim from the guide "Give an AI Agent Scoped Access", step 1.
import { App } from "@alter-ai/alter-sdk";
const app = new App({ apiKey: process.env.ALTER_API_KEY! });
const result = await app.agents.create({ name: "research-bot" });
console.log("agent id:", result.id);
console.log("agent key:", result.apiKey); // shown ONCE
await app.close();

// "Path A — user delegates a connection" (same guide).
declare const user: { jwt: string };
declare const agentId: string;
const session = await app.createConnectSession({
allowedProviders: ["google"],
userToken: user.jwt,
agent: agentId,
});
console.log(session.connectUrl);
