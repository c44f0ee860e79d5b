import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maxAgoMs, parseAgo, parseFilter, purgeRepositoryRegexes, repositoryMatcher, tagMatcher } from '../../src/lifecycle/purge-options.js';

describe('acr purge arguments', () => {
  it('--ago is [N]d[Go duration], clamped instead of overflowing', () => {
    assert.equal(parseAgo('1d'), 86_400_000);
    assert.equal(parseAgo('2d3h6m'), 2 * 86_400_000 + 3 * 3_600_000 + 6 * 60_000);
    assert.equal(parseAgo('10m'), 600_000);
    assert.equal(parseAgo('1.5h'), 5_400_000);
    assert.equal(parseAgo('0d'), 0);
    assert.equal(parseAgo('999999999999999999999999d'), maxAgoMs);
    assert.equal(parseAgo('99999999999999999999h'), maxAgoMs);
    for (const bad of ['', 'd', '1y', '1d2', '-1d', '1h d']) assert.throws(() => parseAgo(bad), /invalid --ago/, bad);
  });

  it('a filter splits at the one colon outside (?:...) and classes', () => {
    assert.deepEqual(parseFilter('hello-world:.*'), { repository: 'hello-world', tag: '.*' });
    assert.deepEqual(parseFilter('samples/(?:a|b):^v(?:1|2)'), { repository: 'samples/(?:a|b)', tag: '^v(?:1|2)' });
    assert.deepEqual(parseFilter('repo:(?i:latest)'), { repository: 'repo', tag: '(?i:latest)' });
    assert.deepEqual(parseFilter('repo:[:digit:]'), { repository: 'repo', tag: '[:digit:]' });
    assert.throws(() => parseFilter('repo'), /expected/);
    assert.throws(() => parseFilter('a:b:c'), /expected/);
    assert.throws(() => parseFilter(':x'), /missing repository/);
    assert.throws(() => parseFilter('x:'), /missing tag/);
  });

  it('repositories are anchored (case-insensitive: names are lowercase), tags are not, lookarounds work', () => {
    assert.ok(repositoryMatcher('YourApp').test('yourapp'));
    assert.ok(!repositoryMatcher('app').test('myapp'));
    assert.ok(!repositoryMatcher('app').test('app/sub'));
    assert.ok(repositoryMatcher('app/.*').test('app/sub'));
    assert.ok(tagMatcher(['v1']).test('v10'));
    assert.ok(!tagMatcher(['^(?!release).*']).test('release-1'));
    assert.ok(tagMatcher(['^a$', '^b$']).test('b'));
  });

  it('a purge command line names the repositories its run token may delete in', () => {
    assert.deepEqual(purgeRepositoryRegexes(['--filter', 'YourApp:.*', '--untagged', '--ago', '0d']), ['YourApp']);
    assert.deepEqual(purgeRepositoryRegexes(['-f', 'a:.*', '--filter=b:x']), ['a', 'b']);
    assert.deepEqual(purgeRepositoryRegexes(['--untagged-only']), ['.*']);
    assert.deepEqual(purgeRepositoryRegexes(['--ago', '1d']), []);
  });
});
