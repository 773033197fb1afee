// Must NOT type-check: a principal with a misspelled field.
import { App } from "@alter-ai/alter-sdk";
const app = new App({ apiKey: "alter_key_x" });
await app.createManagedSecretGrant("ms", { principal: { type: "user", user_token: "t", label: "l" } });
