// Must NOT type-check: `grantID` is a misspelling of `grantId`.
import { Agent, HttpMethod } from "@alter-ai/alter-sdk";
const agent = new Agent({ apiKey: "alter_key_x" });
await agent.request(HttpMethod.GET, "https://api.example.com/", { grantID: "g" });
