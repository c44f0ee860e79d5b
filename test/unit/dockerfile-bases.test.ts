import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatImageReference, normalizeImageReference, scanDockerfileBases, type DockerfileScanOptions } from '../../src/triggers/dockerfile-bases.js';

const digest = `sha256:${'ab'.repeat(32)}`;

/** The scan as fully qualified strings, which read better in assertions. */
function bases(text: string, options: DockerfileScanOptions = {}) {
  const found = scanDockerfileBases(text, options);
  return { runtime: found.runtime ? formatImageReference(found.runtime) : null, buildtime: found.buildtime.map(formatImageReference), problems: found.problems };
}

describe('normalizeImageReference', () => {
  it('puts one-component names under docker.io/library with tag latest', () => {
    assert.deepEqual(normalizeImageReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
    assert.deepEqual(normalizeImageReference('node:20-alpine'), { registry: 'docker.io', repository: 'library/node', tag: '20-alpine' });
  });

  it('keeps two-component Docker Hub names as they are', () => {
    assert.deepEqual(normalizeImageReference('bitnami/redis:7'), { registry: 'docker.io', repository: 'bitnami/redis', tag: '7' });
    assert.deepEqual(normalizeImageReference('index.docker.io/library/busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  });

  it('takes the first component as the registry when it has a dot, a colon or is localhost', () => {
    assert.deepEqual(normalizeImageReference('mcr.microsoft.com/dotnet/runtime:6.0'), { registry: 'mcr.microsoft.com', repository: 'dotnet/runtime', tag: '6.0' });
    assert.deepEqual(normalizeImageReference('127.0.0.1:5000/team/app:v1'), { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v1' });
    assert.deepEqual(normalizeImageReference('localhost/app'), { registry: 'localhost', repository: 'app', tag: 'latest' });
    assert.deepEqual(normalizeImageReference('registry:5000/app'), { registry: 'registry:5000', repository: 'app', tag: 'latest' });
    // No dot, colon or localhost: a Docker Hub namespace, not a host.
    assert.equal(normalizeImageReference('myregistry/app').registry, 'docker.io');
  });

  it('keeps a digest, with or without a tag; a digest alone implies no tag', () => {
    assert.deepEqual(normalizeImageReference(`alpine:3.19@${digest}`), { registry: 'docker.io', repository: 'library/alpine', tag: '3.19', digest });
    assert.deepEqual(normalizeImageReference(`localhost:5000/base@${digest}`), { registry: 'localhost:5000', repository: 'base', tag: '', digest });
  });

  it('refuses what is not a reference, saying why', () => {
    assert.throws(() => normalizeImageReference(''), /is empty/);
    assert.throws(() => normalizeImageReference('alpine:'), /not a tag/);
    assert.throws(() => normalizeImageReference('Alpine'), /repository name/);
    assert.throws(() => normalizeImageReference('alpine@sha256:short'), /not a digest/);
  });
});

describe('scanDockerfileBases', () => {
  it('finds the one base of a one-stage Dockerfile', () => {
    assert.deepEqual(bases('FROM alpine:3.19\nRUN true\n'), { runtime: 'docker.io/library/alpine:3.19', buildtime: [], problems: [] });
  });

  it('reads through a BOM, comments, blank lines and lower-case keywords', () => {
    const text = '\uFEFF# syntax=docker/dockerfile:1\n# a comment\n\n  # indented comment\nfrom  busybox:1.36 \nRUN echo hi # not a comment to the shell\n';
    assert.equal(bases(text).runtime, 'docker.io/library/busybox:1.36');
  });

  it('follows the escape=` directive: backtick continues lines, backslash is plain', () => {
    const text = '# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022 AS build\nRUN dir c:\\\nFROM build\n';
    assert.deepEqual(bases(text), { runtime: 'mcr.microsoft.com/windows/servercore:ltsc2022', buildtime: [], problems: [] });
  });

  it('continues a FROM over lines with the default escape', () => {
    assert.equal(bases('FROM \\\n  localhost:5000/base:1 \\\n  AS b\n').runtime, 'localhost:5000/base:1');
  });

  it('substitutes global ARG defaults, $X and ${X} forms', () => {
    const text = 'ARG REGISTRY=localhost:5000\nARG NAME=base\nARG TAG=1.0\nFROM $REGISTRY/${NAME}:$TAG\n';
    assert.equal(bases(text).runtime, 'localhost:5000/base:1.0');
  });

  it('lets a build arg override an ARG default', () => {
    const text = 'ARG TAG=3.18\nFROM alpine:${TAG}\n';
    assert.equal(bases(text, { buildArgs: { TAG: '3.20' } }).runtime, 'docker.io/library/alpine:3.20');
    assert.equal(bases(text).runtime, 'docker.io/library/alpine:3.18');
  });

  it('fills ${VAR:-x} and ${VAR-x} from the default word; ${VAR:+x} only when set', () => {
    const text = 'ARG BASE\nARG EMPTY=\nFROM ${BASE:-debian}:${EMPTY:-bookworm} AS a\nFROM ${EMPTY-busybox}alpine${BASE:+-never}\n';
    assert.deepEqual(bases(text), { runtime: 'docker.io/library/alpine:latest', buildtime: ['docker.io/library/debian:bookworm'], problems: [] });
    assert.equal(bases('ARG BASE\nFROM ${BASE:-debian}\n', { buildArgs: { BASE: 'ubuntu:24.04' } }).runtime, 'docker.io/library/ubuntu:24.04');
  });

  it('uses an ARG default that refers to an earlier ARG', () => {
    assert.equal(bases('ARG V=20\nARG IMAGE=node:${V}-slim\nFROM $IMAGE\n').runtime, 'docker.io/library/node:20-slim');
  });

  it('ignores a build arg that no global ARG declares, as the engine does', () => {
    const found = bases('FROM alpine:${TAG}\n', { buildArgs: { TAG: '3.20' } });
    assert.equal(found.runtime, null);
    assert.match(found.problems[0]!, /line 1.*\$TAG has no value/);
  });

  it('does not see ARGs declared inside a stage in later FROM lines', () => {
    const found = bases('FROM alpine AS a\nARG LATE=busybox\nFROM $LATE\n');
    assert.equal(found.runtime, null);
    assert.deepEqual(found.buildtime, ['docker.io/library/alpine:latest']);
    assert.match(found.problems[0]!, /line 3.*\$LATE/);
  });

  it('resolves aliases, chains of them included, to the real image; an alias is never a base', () => {
    const text = 'FROM golang:1.22 AS Builder\nFROM builder AS test\nFROM test AS final\nFROM final\n';
    assert.deepEqual(bases(text), { runtime: 'docker.io/library/golang:1.22', buildtime: [], problems: [] });
  });

  it('makes the last stage the runtime base and earlier stage origins buildtime, deduplicated', () => {
    const text = 'FROM golang:1.22 AS build\nFROM node:20 AS web\nFROM golang:1.22 AS tools\nFROM gcr.io/distroless/static:nonroot\nCOPY --from=build /app /app\n';
    assert.deepEqual(bases(text), { runtime: 'gcr.io/distroless/static:nonroot', buildtime: ['docker.io/library/golang:1.22', 'docker.io/library/node:20'], problems: [] });
  });

  it('never lists the runtime base as a buildtime base too', () => {
    assert.deepEqual(bases('FROM alpine AS a\nFROM alpine\n').buildtime, []);
  });

  it('skips the --platform flag, with or without variables in it', () => {
    const text = 'FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine:3.19\n';
    assert.deepEqual(bases(text), { runtime: 'docker.io/library/alpine:3.19', buildtime: ['docker.io/library/golang:1.22'], problems: [] });
  });

  it('stops at the --target stage: it is the runtime, later stages are not bases', () => {
    const text = 'FROM golang:1.22 AS build\nFROM debian:12 AS test\nFROM alpine:3.19 AS release\n';
    assert.deepEqual(bases(text, { target: 'test' }), { runtime: 'docker.io/library/debian:12', buildtime: ['docker.io/library/golang:1.22'], problems: [] });
    assert.deepEqual(bases(text, { target: 'BUILD' }), { runtime: 'docker.io/library/golang:1.22', buildtime: [], problems: [] });
  });

  it('reports a --target that no stage has, with no bases', () => {
    const found = bases('FROM alpine AS a\n', { target: 'missing' });
    assert.deepEqual([found.runtime, found.buildtime], [null, []]);
    assert.match(found.problems[0]!, /no stage named "missing"/);
  });

  it('ignores scratch: as the runtime it gives null, as a buildtime origin nothing', () => {
    assert.deepEqual(bases('FROM golang:1.22 AS build\nFROM scratch\nCOPY --from=build /app /app\n'), { runtime: null, buildtime: ['docker.io/library/golang:1.22'], problems: [] });
    assert.deepEqual(bases('FROM SCRATCH AS base\nFROM base\n'), { runtime: null, buildtime: [], problems: [] });
  });

  it('keeps digests, and treats the same image by tag and by digest as two bases', () => {
    const text = `FROM alpine@${digest} AS a\nFROM 127.0.0.1:5000/team/base:2@${digest}\n`;
    assert.deepEqual(bases(text), { runtime: `127.0.0.1:5000/team/base:2@${digest}`, buildtime: [`docker.io/library/alpine@${digest}`], problems: [] });
  });

  it('skips a malformed or unsubstituted FROM, naming the line, and keeps the others', () => {
    const found = bases('FROM Not_Valid:x AS a\nFROM ${NOPE}/app AS b\nFROM alpine\n');
    assert.equal(found.runtime, 'docker.io/library/alpine:latest');
    assert.deepEqual(found.buildtime, []);
    assert.equal(found.problems.length, 2);
    assert.match(found.problems[0]!, /line 1.*invalid image reference "Not_Valid:x"/);
    assert.match(found.problems[1]!, /line 2.*\$NOPE has no value/);
  });

  it('says so when there is no FROM at all', () => {
    assert.deepEqual(bases('# only a comment\nRUN true\n'), { runtime: null, buildtime: [], problems: ['the Dockerfile has no FROM instruction'] });
  });

  it('keeps an escaped $ literal (and then the reference is invalid, reported)', () => {
    const found = bases('ARG X=alpine\nFROM \\$X\n');
    assert.equal(found.runtime, null);
    assert.match(found.problems[0]!, /invalid image reference "\$X"/);
  });
});
