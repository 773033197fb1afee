// The guide's step 1 ("Give an AI Agent Scoped Access"): the operator
// provisions a managed agent. ALTER_BASE_URL points at the local vault.
import { App } from "@alter-ai/alter-sdk";

export const output: unknown[][] = [];
const log = (...args: unknown[]) => output.push(args);

const app = new App({ apiKey: process.env.ALTER_API_KEY! });
try {
  const result = await app.agents.create({ name: "research-bot" });
  log("agent id:", result.id);
  log("agent key:", result.apiKey); // shown ONCE
} finally {
  await app.close();
}
