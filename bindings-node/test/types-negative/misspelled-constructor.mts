// Must NOT type-check: `apikey` is a misspelling of `apiKey`.
import { Agent } from "@alter-ai/alter-sdk";
new Agent({ apikey: "alter_key_x" });
