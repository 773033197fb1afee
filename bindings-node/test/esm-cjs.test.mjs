// Both module systems load the same package objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from '@alter-ai/alter-sdk';
import * as esmTesting from '@alter-ai/alter-sdk/testing';

const require = createRequire(import.meta.url);

test('import and require expose the same names and objects', () => {
  const cjs = require('@alter-ai/alter-sdk');
  const names = Object.keys(esm).filter((n) => n !== 'default').sort();
  assert.deepEqual(names, Object.keys(cjs).sort());
  for (const n of names) assert.equal(esm[n], cjs[n], n);
  assert.equal(esm.default, cjs);
  const cjsTesting = require('@alter-ai/alter-sdk/testing');
  assert.equal(esmTesting.LocalVault, cjsTesting.LocalVault);
  assert.equal(esm.HttpMethod.POST, 'POST');
  assert.equal(esm.Provider.CAL_COM, 'cal-com');
  assert.equal(esm.isValidKey('nope'), false);
});
