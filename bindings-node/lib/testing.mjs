// ES module entry of @alter-ai/alter-sdk/testing.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const testing = require('./testing.js');

export default testing;
export const { LocalVault, VaultAdmin } = testing;
