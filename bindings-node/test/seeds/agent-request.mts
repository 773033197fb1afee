// The guide's agent process ("Give an AI Agent Scoped Access", step 3),
// unchanged except that the provider URL comes from PROVIDER_URL (the local
// vault's echo provider) instead of api.anthropic.com.
import { Agent, HttpMethod } from "@alter-ai/alter-sdk";

export const output: unknown[] = [];
const log = (...args: unknown[]) => output.push(args);

const agent = new Agent({ apiKey: process.env.AGENT_API_KEY! });
try {
  // The json body is forwarded to the provider verbatim — use the provider's
  // wire field names (Anthropic: max_tokens, not camelCase).
  const response = await agent.request(
    HttpMethod.POST,
    process.env.PROVIDER_URL!,
    {
      grantId: process.env.ANTHROPIC_GRANT_ID!,
      json: {
        model: "claude-sonnet-4-6",
        max_tokens: 1024,
        messages: [{ role: "user", content: "Say hello." }],
      },
    },
  );
  log(response.status, await response.json());
} finally {
  await agent.close();
}
