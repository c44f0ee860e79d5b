import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from '../helpers/berth-process.js';
import { serverNodeFlags } from '../../src/cli/node-flags.js';

const execFileAsync = promisify(execFile);

// The real ./berth launcher, run in a checkout of a miniature project: its one dependency
// (TypeScript, linked from this checkout so npm ci needs no network) and one source file that
// prints its arguments, so a first run (npm ci, then tsc) takes seconds, not minutes.
let checkout: string;
const mainFile = () => join(checkout, 'src/cli/main.ts');

async function launch(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await execFileAsync(join(checkout, 'berth'), args, { cwd: checkout, timeout: 180_000, env: { ...process.env, npm_config_offline: 'true' } });
  return { stdout, stderr };
}

function lines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('berth: '));
}

before(async () => {
  checkout = tempDir('launcher');
  copyFileSync(join(repoRoot, 'berth'), join(checkout, 'berth'));
  const typescript = realpathSync(join(repoRoot, 'node_modules/typescript'));
  writeFileSync(join(checkout, 'package.json'), JSON.stringify({ name: 'launcher-probe', version: '0.0.0', private: true, type: 'module', devDependencies: { typescript: `file:${typescript}` } }));
  writeFileSync(join(checkout, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', target: 'ES2022', outDir: 'dist', rootDir: '.', types: [] }, include: ['src/**/*.ts'] }));
  mkdirSync(join(checkout, 'src/cli'), { recursive: true });
  writeFileSync(mainFile(), 'declare const process: { argv: string[] };\nconsole.log(JSON.stringify(process.argv.slice(2)));\n');
  // npm ci needs a lock file; writing one installs nothing.
  await execFileAsync('npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund'], { cwd: checkout, timeout: 120_000 });
});
after(() => {
  rmSync(checkout, { recursive: true, force: true });
});

describe('the ./berth launcher', () => {
  it("on a fresh checkout installs and builds, saying so on stderr; stdout holds only the command's output", async () => {
    assert.ok(!existsSync(join(checkout, 'node_modules')) && !existsSync(join(checkout, 'dist')));
    const { stdout, stderr } = await launch(['--version', '-o', 'json']);
    assert.equal(stdout, '["--version","-o","json"]\n');
    const said = lines(stderr);
    assert.equal(said.length, 4, stderr);
    assert.equal(said[0], 'berth: first run: installing dependencies (npm ci)…');
    assert.match(said[1]!, /^berth: dependencies installed in \d+s$/);
    assert.equal(said[2], 'berth: building…');
    assert.match(said[3]!, /^berth: built in \d+s$/);
  });

  it('says nothing when everything is there, and rebuilds (saying so) after a source change', async () => {
    const quiet = await launch(['--version']);
    assert.equal(quiet.stdout, '["--version"]\n');
    assert.equal(quiet.stderr, '');
    const later = new Date(Date.now() + 5_000);
    utimesSync(mainFile(), later, later);
    const rebuilt = await launch(['x']);
    assert.equal(rebuilt.stdout, '["x"]\n');
    assert.deepEqual(lines(rebuilt.stderr).map((line) => line.replace(/\d+s$/, 'Ns')), ['berth: building…', 'berth: built in Ns']);
  });

  it('runs Node with the server\'s V8 flags, the same list as the package bin\'s shebang', async () => {
    const later = new Date(Date.now() + 10_000);
    writeFileSync(mainFile(), 'declare const process: { execArgv: string[] };\nconsole.log(JSON.stringify(process.execArgv));\n');
    utimesSync(mainFile(), later, later);
    const { stdout } = await launch(['serve']);
    assert.deepEqual(JSON.parse(stdout), serverNodeFlags);
    const shebang = readFileSync(join(repoRoot, 'src/cli/main.ts'), 'utf8').split('\n')[0]!;
    assert.equal(shebang, `#!/usr/bin/env -S node ${serverNodeFlags.join(' ')}`);
  });
});
