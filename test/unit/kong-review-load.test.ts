/**
 * The Kong importer never drops a set field silently (docs/gateways/kong.md,
 * SPEC "Loading configurations"): service and route fields it does not
 * enforce are warnings naming their path, unless they hold Kong's default
 * (`deck dump` writes every field). Defaults from the Service and Route
 * entity references: https://developer.konghq.com/gateway/entities/service/,
 * https://developer.konghq.com/gateway/entities/route/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import type { Warning } from '../../src/gateway/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-review-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function warningsOf(yaml: string): Promise<Warning[]> {
  const file = join(dir, 'kong.yaml');
  writeFileSync(file, yaml);
  const plan = await loadTestPlan([file]);
  return [...plan.warnings];
}

const paths = (ws: readonly Warning[]) => ws.filter((w) => w.kind === 'ignored').map((w) => w.path);

test("service and route fields set to something else than Kong's default are warnings with their path", async () => {
  const ws = await warningsOf(
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: s',
      '    url: http://127.0.0.1:9',
      '    connect_timeout: 5000',
      '    retries: 0',
      '    tls_verify: true',
      '    routes:',
      '      - name: r',
      '        paths: [/r]',
      '        path_handling: v1',
      '        regex_priority: 5',
      '        request_buffering: false',
      '        plugins:',
      '          - name: rate-limiting',
      '            ordering: {before: {access: [jwt]}}',
      '            config: {minute: 1}',
      '',
    ].join('\n'),
  );
  const ignored = paths(ws);
  for (const p of [
    'services[0].connect_timeout',
    'services[0].retries',
    'services[0].tls_verify',
    'services[0].routes[0].path_handling',
    'services[0].routes[0].regex_priority',
    'services[0].routes[0].request_buffering',
    'services[0].routes[0].plugins[0].ordering',
  ]) {
    expect(ignored, p).toContain(p);
  }
});

test('a deck dump with every field at its default says nothing about them', async () => {
  const ws = await warningsOf(
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: s',
      '    host: 127.0.0.1',
      '    port: 9',
      '    protocol: http',
      '    path: /api',
      '    connect_timeout: 60000',
      '    read_timeout: 60000',
      '    write_timeout: 60000',
      '    retries: 5',
      '    enabled: true',
      '    tags: [team-a]',
      '    routes:',
      '      - name: r',
      '        paths: [/r]',
      '        protocols: [http, https]',
      '        strip_path: true',
      '        preserve_host: false',
      '        path_handling: v0',
      '        regex_priority: 0',
      '        https_redirect_status_code: 426',
      '        request_buffering: true',
      '        response_buffering: true',
      '        tags: [team-a]',
      '        plugins:',
      '          - name: rate-limiting',
      '            enabled: true',
      '            protocols: [grpc, grpcs, http, https]',
      '            instance_name: rl',
      '            tags: [x]',
      '            config: {minute: 1}',
      '',
    ].join('\n'),
  );
  expect(paths(ws)).toEqual([]);
});
