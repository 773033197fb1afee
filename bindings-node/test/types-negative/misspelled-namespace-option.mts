// Must NOT type-check: `displayname` is a misspelling of `displayName`.
import { App } from "@alter-ai/alter-sdk";
const app = new App({ apiKey: "alter_key_x" });
await app.agents.create({ name: "bot", displayname: "Bot" });
