// The package's bin is dist/cli.js (`node dist/cli.js` works right after `npm ci`); the compiled
// CLI lives at dist/src/cli.js because machines/ sits beside src/. This writes the small entry.
import { chmodSync, writeFileSync } from 'node:fs';
writeFileSync('dist/cli.js', "#!/usr/bin/env node\nimport './src/cli.js';\n");
chmodSync('dist/cli.js', 0o755);
