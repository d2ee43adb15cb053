/**
 * The APIM importer (src/gateway/load/apim.ts) on hand-written policies
 * (test/fixtures/apim/): validate-jwt with two openid-configs, custom code
 * and message, required claims, limits keyed by JWT subject and IP, a quota
 * with first-period-start, named values, check-header, warnings with their
 * XPath, and PlanErrors for what would make the emulation wrong.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  escapeExpressions,
  isApimDocument,
  loadApim,
  namedValueEnvName,
} from '../../src/gateway/load/apim.js';
import type { LoadContext, SourceDoc } from '../../src/gateway/load/types.js';
import { PlanError, type ApiPlan, type Warning } from '../../src/gateway/plan.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'apim');

function fixture(name: string): SourceDoc {
  return { file: name, text: readFileSync(join(FIXTURES, name), 'utf8'), value: undefined };
}

function doc(text: string, file = 'policy.xml'): SourceDoc {
  return { file, text, value: undefined };
}

function context(over: Partial<LoadContext> = {}): LoadContext {
  return {
    env: {},
    upstream: 'http://127.0.0.1:3000',
    namedValues: {},
    readFile: () => Promise.reject(new Error('no files')),
    strict: false,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
    ...over,
  };
}

async function load(
  d: SourceDoc,
  over: Partial<LoadContext> = {},
): Promise<{ api: ApiPlan; warnings: readonly Warning[] }> {
  const result = await loadApim([d], context(over));
  expect(result.apis).toHaveLength(1);
  return { api: result.apis[0] as ApiPlan, warnings: result.warnings };
}

async function planError(d: SourceDoc, over: Partial<LoadContext> = {}): Promise<PlanError> {
  const error = await loadApim([d], context(over)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlanError);
  return error as PlanError;
}

const inbound = (body: string) => `<policies><inbound>${body}</inbound></policies>`;
const OIDC = '<openid-config url="https://idp.example.com/.well-known/openid-configuration" />';

describe('isApimDocument', () => {
  test('XML whose root is <policies>', () => {
    expect(isApimDocument('<policies><inbound/></policies>')).toBe(true);
    expect(isApimDocument('\uFEFF<?xml version="1.0"?>\n<!-- x -->\n<policies>\n</policies>')).toBe(
      true,
    );
    expect(isApimDocument('<policies/>')).toBe(true);
    expect(isApimDocument('<policiesx></policiesx>')).toBe(false);
    expect(isApimDocument('{"apis": []}')).toBe(false);
    expect(isApimDocument('<root><policies/></root>')).toBe(false);
  });
});

describe('raw quotes inside attributes, as Microsoft samples write them', () => {
  test('escapeExpressions escapes only inside expressions', () => {
    const raw =
      '<r a="@(context.Request.Headers.GetValueOrDefault("Authorization",""))" b="x &amp; y"><w c="@(a && b < c)"/>@(x < "y")</r>';
    expect(escapeExpressions(raw)).toBe(
      '<r a="@(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;,&quot;&quot;))" b="x &amp; y"><w c="@(a &amp;&amp; b &lt; c)"/>@(x &lt; "y")</r>',
    );
    // Already escaped text and parentheses inside strings are kept.
    expect(escapeExpressions('<r a="@(&quot;)&quot; + x)"/>')).toBe(
      '<r a="@(&quot;)&quot; + x)"/>',
    );
    expect(escapeExpressions('<r a="@(")" + x)"/>')).toBe('<r a="@(&quot;)&quot; + x)"/>');
  });

  test('the flexible-throttling sample loads with its raw quotes', async () => {
    const { api } = await load(fixture('throttling.xml'));
    expect(api.limits[0]?.key).toEqual({
      by: 'expression',
      source: '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)',
    });
  });

  test("quota-by-key's reference example: raw && and < inside increment-condition", async () => {
    const { api, warnings } = await load(
      doc(`<policies>
    <inbound>
        <base />
        <quota-by-key calls="10000" bandwidth="40000" renewal-period="3600"
                      increment-condition="@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 400)"
                      counter-key="@(context.Request.IpAddress)" />
    </inbound>
    <outbound>
        <base />
    </outbound>
</policies>`),
    );
    expect(api.limits[0]).toMatchObject({
      kind: 'quota',
      limit: 10_000,
      periodMs: 3_600_000,
      countWhen: {
        expression: '@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 400)',
      },
    });
    const paths = warnings.map((w) => `${w.kind} ${w.path}`);
    expect(paths).toContain('ignored /policies/inbound/quota-by-key[1]/@bandwidth');
    // The condition is run, not warned about.
    expect(paths.join('\n')).not.toContain('increment-condition');
  });

  test('not well-formed XML is a PlanError with the line', async () => {
    const e = await planError(doc('<policies><inbound>\n<base></inbound></policies>'));
    expect(e.detail).toMatch(/not well-formed XML: .* \(line \d+\)/);
  });

  test('a DOCTYPE is refused (no entity expansion)', async () => {
    const e = await planError(doc('<!DOCTYPE x [<!ENTITY a "b">]><policies/>'));
    expect(e.detail).toContain('DOCTYPE');
  });
});

describe('validate-jwt', () => {
  test('two openid-configs, audiences, custom code and message, Bearer required', async () => {
    const { api, warnings } = await load(fixture('multi-issuer.xml'), { path: '/orders/' });
    expect(api.name).toBe('multi-issuer');
    expect(api.source).toEqual({ format: 'apim', file: 'multi-issuer.xml', path: '/policies' });
    expect(api.match).toEqual({ path: '/orders', stripPath: true });
    expect(api.upstream).toEqual({ url: 'http://127.0.0.1:3000', timeoutMs: 30_000 });
    expect(api.trust.issuers).toEqual([
      'https://tenant.example.auth0.com/.well-known/openid-configuration',
      'https://login.example.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration',
    ]);
    expect(api.token).toEqual({
      headers: ['authorization'],
      scheme: 'required',
      query: [],
      cookies: [],
    });
    expect(api.checks.audiences).toEqual([
      'https://api.example.com/',
      '00001111-aaaa-2222-bbbb-3333cccc4444',
    ]);
    expect(api.checks.issuers).toEqual([]);
    expect(api.checks.exp).toBe('required');
    expect(api.checks.iat).toBe('off');
    expect(api.checks.skew).toEqual({ exp: 0, nbf: 0, iat: 0 });
    expect(api.checks.algorithms).toEqual(['PS256', 'RS256', 'RS512']);
    expect(api.answers).toEqual({
      style: 'apim',
      failedStatus: 401,
      failedMessage: 'Unauthorized. Access token is missing or invalid.',
    });
    expect(api.credentials).toEqual({ bearer: true });
    expect(api.auth).toBeUndefined();
    expect(warnings).toContainEqual(
      expect.objectContaining({ path: '/policies/inbound/base[1]', kind: 'note' }),
    );
    expect(warnings.filter((w) => w.kind === 'skipped_check')).toEqual([]);
  });

  test('required claims: any, all with a separator, presence; code 403, clock-skew, exp if present', async () => {
    const { api } = await load(fixture('required-claims.xml'));
    expect(api.checks.claims).toEqual([
      {
        claim: ['group'],
        match: 'any',
        values: ['finance', 'logistics'],
        failure: 'claim',
        label: "required-claims/claim[@name='group']",
      },
      {
        claim: ['scp'],
        match: 'all',
        values: ['orders.read', 'orders.write'],
        separator: ' ',
        failure: 'claim',
        label: "required-claims/claim[@name='scp']",
      },
      {
        claim: ['azp'],
        match: 'present',
        values: [],
        failure: 'claim',
        label: "required-claims/claim[@name='azp']",
      },
    ]);
    expect(api.checks.issuers).toEqual(['https://tenant.example.auth0.com/']);
    expect(api.checks.skew).toEqual({ exp: 60, nbf: 60, iat: 60 });
    expect(api.checks.exp).toBe('if_present');
    expect(api.answers.failedStatus).toBe(403);
    expect(api.answers.failedMessage).toBeUndefined();
    // Without require-scheme a leading Bearer is optional.
    expect(api.token.scheme).toBe('optional');
  });

  test('--strict adds exp and iat checks', async () => {
    const { api } = await load(fixture('required-claims.xml'), { strict: true });
    expect(api.checks.exp).toBe('required');
    expect(api.checks.iat).toBe('if_present');
  });

  test('clock-skew as a TimeSpan; query-parameter-name; token-value as a header read', async () => {
    const q = await load(
      doc(
        inbound(
          `<validate-jwt query-parameter-name="access_token" clock-skew="00:02:00">${OIDC}</validate-jwt>`,
        ),
      ),
    );
    expect(q.api.token).toEqual({
      headers: [],
      scheme: 'optional',
      query: ['access_token'],
      cookies: [],
    });
    expect(q.api.checks.skew.exp).toBe(120);
    expect(q.warnings).toContainEqual(
      expect.objectContaining({ kind: 'skipped_check', path: '/policies/inbound/validate-jwt[1]' }),
    );
    const t = await load(
      doc(
        inbound(
          `<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault("X-Token",""))">${OIDC}</validate-jwt>`,
        ),
      ),
    );
    expect(t.api.token.headers).toEqual(['x-token']);
    const e = await planError(
      doc(
        inbound(`<validate-jwt token-value="@(context.Request.IpAddress)">${OIDC}</validate-jwt>`),
      ),
    );
    expect(e.path).toBe('/policies/inbound/validate-jwt[1]/@token-value');
  });

  test('no audiences, no issuers, no openid-config: skipped checks are warned', async () => {
    const { warnings } = await load(
      doc(
        inbound(
          '<validate-jwt header-name="Authorization"><issuer-signing-keys><key>c2VjcmV0LXNlY3JldC1zZWNyZXQ=</key></issuer-signing-keys></validate-jwt>',
        ),
      ),
    );
    const skipped = warnings.filter((w) => w.kind === 'skipped_check').map((w) => w.message);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toContain('aud');
    expect(skipped[1]).toContain('iss');
  });

  test('invalid settings are PlanErrors', async () => {
    expect(
      (await planError(doc(inbound(`<validate-jwt>${OIDC}</validate-jwt>`)))).detail,
    ).toContain('exactly one');
    expect(
      (
        await planError(
          doc(
            inbound(
              `<validate-jwt header-name="Authorization" require-scheme="JWT">${OIDC}</validate-jwt>`,
            ),
          ),
        )
      ).path,
    ).toBe('/policies/inbound/validate-jwt[1]/@require-scheme');
    expect(
      (
        await planError(
          doc(
            inbound(
              `<validate-jwt header-name="Authorization" failed-validation-httpcode="abc">${OIDC}</validate-jwt>`,
            ),
          ),
        )
      ).path,
    ).toBe('/policies/inbound/validate-jwt[1]/@failed-validation-httpcode');
    expect(
      (
        await planError(
          doc(
            inbound(
              '<validate-jwt header-name="Authorization"><audiences><audience>x</audience></audiences></validate-jwt>',
            ),
          ),
        )
      ).detail,
    ).toContain('no key');
    expect(
      (
        await planError(
          doc(
            inbound(
              `<validate-jwt header-name="Authorization">${OIDC}<audiences><audience>@(context.Request.OriginalUrl.Port)</audience></audiences></validate-jwt>`,
            ),
          ),
        )
      ).detail,
    ).toContain('@(context.Request.OriginalUrl.Port)');
    expect(
      (
        await planError(
          doc(
            inbound(
              `<validate-jwt header-name="Authorization">${OIDC}</validate-jwt><validate-jwt header-name="Authorization">${OIDC}</validate-jwt>`,
            ),
          ),
        )
      ).path,
    ).toBe('/policies/inbound/validate-jwt[2]');
  });
});

describe('named values, keys and check-header', () => {
  const values = {
    tenant: 'contoso',
    'jwt-signing-key': Buffer.from('a-symmetric-key-of-32-bytes-long').toString('base64'),
    'api-audience': 'https://api.example.com/',
  };
  const modulus = 'pO2+BpARfKknqyr8sDRG1VmLlw5gBv518n2/LVyh16lM==';

  test('from --named-value, then the environment (the name as given, or OIDC_GW_NV_NAME)', async () => {
    const { api, warnings } = await load(fixture('named-values.xml'), {
      namedValues: values,
      env: { [namedValueEnvName('rsa-modulus')]: modulus },
    });
    expect(namedValueEnvName('rsa-modulus')).toBe('OIDC_GW_NV_RSA_MODULUS');
    expect(api.checks.audiences).toEqual(['https://api.example.com/']);
    expect(api.trust.secrets).toHaveLength(1);
    expect(Buffer.from(api.trust.secrets[0]?.secret ?? []).toString()).toBe(
      'a-symmetric-key-of-32-bytes-long',
    );
    expect(api.trust.secrets[0]?.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    expect(api.trust.publicKeys).toEqual([
      {
        text: JSON.stringify({
          kty: 'RSA',
          n: 'pO2-BpARfKknqyr8sDRG1VmLlw5gBv518n2_LVyh16lM',
          e: 'AQAB',
          kid: 'rsa-1',
        }),
        source: 'named-values.xml: /policies/inbound/validate-jwt[1]/issuer-signing-keys[1]/key[2]',
        algorithms: ['PS256', 'RS256', 'RS512'],
        kid: 'rsa-1',
      },
    ]);
    expect(api.checks.algorithms).toEqual(['PS256', 'RS256', 'RS512', 'HS256', 'HS384', 'HS512']);
    expect(warnings).toContainEqual(
      expect.objectContaining({
        kind: 'ignored',
        path: '/policies/inbound/validate-jwt[1]/issuer-signing-keys[1]/key[3]',
      }),
    );
    expect(api.headerChecks).toEqual([
      {
        header: 'x-tenant',
        values: ['contoso'],
        ignoreCase: true,
        status: 401,
        message: 'Missing or wrong tenant',
        label: '/policies/inbound/check-header[1]',
      },
    ]);
    // A quota that never resets, keyed by a claim with a prefix.
    expect(api.limits).toEqual([
      expect.objectContaining({
        id: 'quota',
        kind: 'quota',
        algorithm: 'fixed_from_start',
        limit: 50,
        periodMs: 0,
        startMs: Date.parse('0001-01-01T00:00:00Z'),
        key: {
          by: 'expression',
          source:
            '@("user:" + context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("oid",""))',
        },
      }),
    ]);
    // The same name in the environment as given also works.
    const again = await load(fixture('named-values.xml'), {
      namedValues: values,
      env: { 'rsa-modulus': modulus },
    });
    expect(again.api.trust.publicKeys).toHaveLength(1);
  });

  test("a missing named value is a PlanError naming it, never its neighbours' values", async () => {
    const e = await planError(fixture('named-values.xml'), {
      namedValues: { tenant: 'contoso', 'jwt-signing-key': values['jwt-signing-key'] },
    });
    expect(e.detail).toContain('named value "rsa-modulus" is not defined');
    expect(e.detail).toContain('OIDC_GW_NV_RSA_MODULUS');
    expect(e.path).toBe('/policies/inbound/validate-jwt[1]/issuer-signing-keys[1]/key[2]/@n');
    expect(e.message).not.toContain(values['jwt-signing-key']);
  });
});

describe('choose / return-response: 403 on a claim after validate-jwt', () => {
  const key = {
    'jwt-signing-key': Buffer.from('a-symmetric-key-of-32-bytes-long').toString('base64'),
  };

  test('the documented pattern becomes a forbidden claim rule and its response', async () => {
    const { api, warnings } = await load(fixture('claims-403.xml'), { namedValues: key });
    expect(
      api.checks.claims.map((c) => [c.claim, c.match, c.values, c.failure, c.methods]),
    ).toEqual([
      [['group'], 'any', ['finance', 'logistics'], 'claim', undefined],
      [['group'], 'any', ['finance'], 'forbidden', undefined],
      // The second choose, Microsoft's sample as written: for POST only.
      [['group'], 'any', ['finance'], 'forbidden', ['POST']],
    ]);
    expect(api.answers.forbiddenResponse).toEqual({ status: 403, headers: {}, body: '' });
    expect(warnings.filter((w) => w.path.includes('choose'))).toEqual([]);
  });

  const policy = (condition: string, response = '<set-status code="403" reason="Forbidden" />') =>
    doc(
      inbound(
        `<validate-jwt header-name="Authorization" output-token-variable-name="t">${OIDC}</validate-jwt>` +
          `<choose><when condition="${condition}"><return-response>${response}</return-response></when></choose>`,
      ),
    );
  const term = (v: string) => `!((Jwt)context.Variables["t"]).Claims["roles"].Contains("${v}")`;

  test('&& of negated terms: any value suffices; ||: all are needed; body and headers kept', async () => {
    const any = await load(policy(`@(${term('a')} && ${term('b')})`));
    expect(any.api.checks.claims.at(-1)).toMatchObject({
      match: 'any',
      values: ['a', 'b'],
      failure: 'forbidden',
    });
    const all = await load(
      policy(
        `@(${term('a')} || ${term('b')})`,
        '<set-status code="403" reason="Forbidden" /><set-header name="Content-Type" exists-action="override"><value>text/plain</value></set-header><set-body>no access</set-body>',
      ),
    );
    expect(all.api.checks.claims.at(-1)).toMatchObject({ match: 'all', values: ['a', 'b'] });
    expect(all.api.answers.forbiddenResponse).toEqual({
      status: 403,
      headers: { 'content-type': 'text/plain' },
      body: 'no access',
    });
  });

  test('other conditions, another variable, other actions: warnings', async () => {
    for (const d of [
      policy('@(context.Request.Headers.GetValueOrDefault("X","") == "y")'),
      policy(`@(${term('a').replace('"t"', '"other"')})`),
      policy(`@(${term('a')})`, '<set-status code="403" /><set-variable name="x" value="y" />'),
    ]) {
      const { api, warnings } = await load(d);
      expect(api.checks.claims).toEqual([]);
      expect(api.answers.forbiddenResponse).toBeUndefined();
      expect(warnings).toContainEqual(
        expect.objectContaining({ kind: 'ignored', path: '/policies/inbound/choose[1]' }),
      );
    }
  });
});

describe('limits', () => {
  test('rate-limit-by-key: an exact sliding log up to 1,000 calls, the two-bucket window above', async () => {
    const algorithmOf = async (calls: number) =>
      (
        await load(
          doc(
            inbound(
              `<rate-limit-by-key calls="${calls}" renewal-period="300" counter-key="@(context.Request.IpAddress)" />`,
            ),
          ),
        )
      ).api.limits[0]?.algorithm;
    expect(await algorithmOf(1000)).toBe('sliding_log');
    expect(await algorithmOf(1001)).toBe('sliding_window');
  });

  test('rate-limit-by-key by JWT subject and by IP, quota-by-key with first-period-start', async () => {
    const { api, warnings } = await load(fixture('throttling.xml'));
    expect(api.limits).toEqual([
      {
        id: 'rate',
        kind: 'rate',
        algorithm: 'sliding_log',
        limit: 10,
        periodMs: 60_000,
        countRefused: false,
        key: {
          by: 'expression',
          source:
            '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)',
        },
        label: '/policies/inbound/rate-limit-by-key[1]',
        cost: 2,
      },
      {
        id: 'rate-2',
        kind: 'rate',
        algorithm: 'sliding_log',
        limit: 100,
        periodMs: 300_000,
        countRefused: false,
        key: { by: 'expression', source: '@(context.Request.IpAddress)' },
        label: '/policies/inbound/rate-limit-by-key[2]',
      },
      {
        id: 'quota',
        kind: 'quota',
        algorithm: 'fixed_from_start',
        limit: 1_000_000,
        periodMs: 2_629_800_000,
        startMs: Date.parse('2026-01-01T00:00:00Z'),
        countRefused: false,
        key: { by: 'expression', source: '@(context.Request.IpAddress)' },
        label: '/policies/inbound/quota-by-key[1]',
      },
    ]);
    expect(api.answers).toEqual({
      style: 'apim',
      retryAfterHeader: 'X-Retry-After',
      remainingHeader: 'X-Remaining-Calls',
      totalHeader: 'X-Total-Calls',
    });
    expect(api.upstream.timeoutMs).toBe(20_000);
    const paths = warnings.map((w) => `${w.kind} ${w.path}`);
    expect(paths).toContain('ignored /policies/inbound/set-header[1]');
    expect(paths).toContain('ignored /policies/inbound/quota-by-key[1]/@bandwidth');
    // validate-jwt forces Bearer on Authorization before the JWT-subject key: no null-key warning.
    expect(warnings.some((w) => w.message.includes('counter-key field is required'))).toBe(false);
  });

  test('a JWT-subject key that may be null is warned about', async () => {
    const key =
      'counter-key="@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)"';
    const cases = [
      inbound(`<rate-limit-by-key calls="5" renewal-period="10" ${key} />`),
      inbound(
        `<validate-jwt header-name="Authorization">${OIDC}</validate-jwt><rate-limit-by-key calls="5" renewal-period="10" ${key} />`,
      ),
      inbound(
        `<rate-limit-by-key calls="5" renewal-period="10" ${key} /><validate-jwt header-name="Authorization" require-scheme="Bearer">${OIDC}</validate-jwt>`,
      ),
    ];
    for (const text of cases) {
      const { warnings } = await load(doc(text));
      expect(warnings).toContainEqual(
        expect.objectContaining({
          path: '/policies/inbound/rate-limit-by-key[1]/@counter-key',
          message: expect.stringContaining(
            'Expression value is invalid. The counter-key field is required.',
          ),
        }),
      );
    }
  });

  test('limit settings APIM refuses are PlanErrors', async () => {
    const rate = (attrs: string) => doc(inbound(`<rate-limit-by-key ${attrs} />`));
    expect((await planError(rate('calls="5" renewal-period="301" counter-key="k"'))).path).toBe(
      '/policies/inbound/rate-limit-by-key[1]/@renewal-period',
    );
    expect((await planError(rate('calls="5" renewal-period="60"'))).detail).toContain(
      'counter-key',
    );
    const quota = (attrs: string) => doc(inbound(`<quota-by-key ${attrs} />`));
    expect(
      (await planError(quota('calls="5" renewal-period="299" counter-key="k"'))).detail,
    ).toContain('at least 300');
    expect(
      (
        await planError(
          quota('calls="5" renewal-period="300" first-period-start="yesterday" counter-key="k"'),
        )
      ).path,
    ).toBe('/policies/inbound/quota-by-key[1]/@first-period-start');
  });

  test('an expression outside the subset is a PlanError naming it', async () => {
    const e = await planError(fixture('outside-subset.xml'));
    expect(e.file).toBe('outside-subset.xml');
    expect(e.path).toBe('/policies/inbound/rate-limit-by-key[1]/@counter-key');
    expect(e.detail).toContain('@(context.Request.Url.Host + context.Request.IpAddress)');
  });

  test('increment-condition: true counts always, false never, another value is an error', async () => {
    const limitOf = async (condition: string) =>
      (
        await load(
          doc(
            inbound(
              `<rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)" increment-condition="${condition}" />`,
            ),
          ),
        )
      ).api.limits[0];
    expect((await limitOf('true'))?.countWhen).toBeUndefined();
    expect((await limitOf('False'))?.countWhen).toEqual({ never: true });
    const e = await planError(
      doc(
        inbound(
          '<rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)" increment-condition="@(context.Response.StatusCode)" />',
        ),
      ),
    );
    expect(e.path).toBe('/policies/inbound/rate-limit-by-key[1]/@increment-condition');
    expect(e.detail).toContain('where a condition (a boolean) is expected');
  });

  test('rate-limit and quota are warned about; increment-condition is not', async () => {
    const { warnings, api } = await load(
      doc(
        inbound(
          '<rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)" increment-condition="@(context.Response.StatusCode == 200)" /><rate-limit calls="20" renewal-period="90" /><quota calls="100" renewal-period="604800" />',
        ),
      ),
    );
    expect(api.auth).toBe('none');
    expect(api.credentials.bearer).toBe(false);
    expect(warnings.map((w) => `${w.kind} ${w.path}`)).toEqual(
      expect.arrayContaining([
        'ignored /policies/inbound/rate-limit[1]',
        'ignored /policies/inbound/quota[1]',
        'note /policies/inbound',
      ]),
    );
  });
});

describe('the document', () => {
  test('--upstream is required', async () => {
    const e = await planError(fixture('multi-issuer.xml'), { upstream: undefined });
    expect(e.detail).toBe('an APIM policy needs --upstream (the policy holds no backend)');
    expect(
      (await planError(fixture('multi-issuer.xml'), { upstream: 'ftp://x' })).detail,
    ).toContain('http');
  });

  test('policies outside inbound and unknown sections are warnings with their XPath', async () => {
    const { warnings } = await load(
      doc(
        `<policies><inbound>${'<cors><allowed-origins><origin>*</origin></allowed-origins></cors>'}</inbound><outbound><set-header name="X" exists-action="delete" /></outbound><on-error><base /></on-error><extra /></policies>`,
      ),
    );
    expect(warnings.map((w) => `${w.kind} ${w.path}`)).toEqual(
      expect.arrayContaining([
        'ignored /policies/inbound/cors[1]',
        'ignored /policies/outbound/set-header[1]',
        'ignored /policies/extra',
        'note /policies/on-error/base[1]',
      ]),
    );
  });

  test('only one policy document at a time', async () => {
    const error = await loadApim(
      [fixture('multi-issuer.xml'), fixture('throttling.xml')],
      context(),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PlanError);
  });
});
