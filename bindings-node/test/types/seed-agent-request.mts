// Verbatim from the guide "Give an AI Agent Scoped Access" (type-checked,
// not run: it calls a real provider).
import { Agent, HttpMethod } from "@alter-ai/alter-sdk";
const agent = new Agent({ apiKey: process.env.AGENT_API_KEY! });
try {
// The json body is forwarded to the provider verbatim — use the provider's
// wire field names (Anthropic: max_tokens, not camelCase).
const response = await agent.request(
HttpMethod.POST,
"https://api.anthropic.com/v1/messages",
{
grantId: process.env.ANTHROPIC_GRANT_ID!,
json: {
model: "claude-sonnet-4-6",
max_tokens: 1024,
messages: [{ role: "user", content: "Say hello." }],
},
},
);
console.log(response.status, await response.json());
} finally {
await agent.close();
}
