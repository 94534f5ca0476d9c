// tests/serve/common.mjs: what the client scripts share: the one-line-per-
// check report (exits 1 at the first failure) and loading an npm package
// from $TINYLLM_NODE_PATH (installed outside the tree; default
// /tmp/npm/node_modules, several folders separated by ':').
import { createRequire } from 'node:module';

export function check(cond, what, detail) {
  if (!cond) {
    console.log(`FAIL ${what}: ${detail === undefined ? '' : JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

export function requirePackage(name) {
  const require = createRequire(import.meta.url);
  const paths = (process.env.TINYLLM_NODE_PATH || '/tmp/npm/node_modules').split(':');
  return require(require.resolve(name, { paths }));
}
