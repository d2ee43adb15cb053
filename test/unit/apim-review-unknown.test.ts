/**
 * Nothing in an APIM policy is silently dropped (docs/gateways/apim.md,
 * "The document"): an attribute or a child element the importer does not
 * read is a warning carrying its XPath, while the `id` attribute that every
 * APIM policy may carry (context.LastError.PolicyId,
 * https://learn.microsoft.com/azure/api-management/api-management-error-handling-policies)
 * and every documented attribute that is read stay quiet.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import type { Plan } from '../../src/gateway/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-apim-review-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = Buffer.from('a-shared-secret-of-at-least-32-bytes!!').toString('base64');

async function load(xml: string): Promise<Plan> {
  const file = join(dir, `policy-${++files}.xml`);
  writeFileSync(file, xml);
  return loadPlan({
    files: [file],
    env: {},
    upstream: 'http://127.0.0.1:3000',
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
}

const paths = (plan: Plan, kind: string) =>
  plan.warnings.filter((w) => w.kind === kind).map((w) => w.path);

describe('unknown attributes and elements are warnings with their XPath', () => {
  test('attributes no policy documents, and children that are not part of a list', async () => {
    const plan = await load(`<policies>
    <inbound>
        <validate-jwt id="jwt" header-name="Authorization" require-scheme="Bearer" header-nmae="X-Token">
            <issuer-signing-keys>
                <key id="hs-1" algorithm="HS256">${KEY}</key>
            </issuer-signing-keys>
            <audiences>
                <audience>api://orders</audience>
                <audeince>api://typo</audeince>
            </audiences>
            <issuers>
                <issuer>https://issuer.example/</issuer>
                <isuser>https://typo.example/</isuser>
            </issuers>
            <required-claims>
                <claim name="role" match="any" separtor=",">
                    <value>admin</value>
                    <values>reader</values>
                </claim>
            </required-claims>
        </validate-jwt>
        <rate-limit-by-key id="per-ip" calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)" renewal-periode="10" />
        <quota-by-key calls="100" renewal-period="3600" counter-key="@(context.Request.IpAddress)" first-period-strat="2024-01-01T00:00:00Z" />
        <check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="No tenant" ignore-case="true" ignore-cas="false" />
    </inbound>
    <backend>
        <forward-request timeout="10" follow-redirects="true" />
    </backend>
</policies>`);
    const ignored = paths(plan, 'ignored');
    for (const p of [
      '/policies/inbound/validate-jwt[1]/@header-nmae',
      '/policies/inbound/validate-jwt[1]/issuer-signing-keys[1]/key[1]/@algorithm',
      '/policies/inbound/validate-jwt[1]/audiences[1]/audeince[1]',
      '/policies/inbound/validate-jwt[1]/issuers[1]/isuser[1]',
      '/policies/inbound/validate-jwt[1]/required-claims[1]/claim[1]/@separtor',
      '/policies/inbound/validate-jwt[1]/required-claims[1]/claim[1]/values[1]',
      '/policies/inbound/rate-limit-by-key[1]/@renewal-periode',
      '/policies/inbound/quota-by-key[1]/@first-period-strat',
      '/policies/inbound/check-header[1]/@ignore-cas',
      '/policies/backend/forward-request[1]/@follow-redirects',
    ])
      expect(ignored, p).toContain(p);
    // `id` is every policy's, and documented attributes are read: no warning for them.
    expect(ignored.filter((p) => p.endsWith('/@id'))).toEqual([]);
    expect(
      ignored.filter((p) => /@(header-name|require-scheme|calls|match|name)$/.test(p)),
    ).toEqual([]);
    // The misspelt audience is not trusted: only the one written right is.
    expect(plan.apis[0]?.checks.audiences).toEqual(['api://orders']);
  });

  test("Microsoft's documented samples load without a single unknown-attribute warning", async () => {
    const plan = await load(`<policies>
    <inbound>
        <base />
        <validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized. Access token is missing or invalid." require-expiration-time="true" require-signed-tokens="true" clock-skew="30" output-token-variable-name="jwt">
            <openid-config url="https://login.microsoftonline.com/contoso.onmicrosoft.com/.well-known/openid-configuration" />
            <audiences>
                <audience>00001111-aaaa-2222-bbbb-3333cccc4444</audience>
            </audiences>
            <required-claims>
                <claim name="id" match="all">
                    <value>insert claim here</value>
                </claim>
            </required-claims>
        </validate-jwt>
        <rate-limit-by-key calls="10" renewal-period="60" increment-condition="@(context.Response.StatusCode == 200)" increment-count="1" counter-key="@(context.Request.IpAddress)" retry-after-header-name="Retry-After" remaining-calls-header-name="X-Remaining" total-calls-header-name="X-Total" />
        <quota-by-key calls="10000" renewal-period="3600" increment-condition="@(context.Response.StatusCode &gt;= 200 &amp;&amp; context.Response.StatusCode &lt; 400)" counter-key="@(context.Request.IpAddress)" first-period-start="2024-01-01T00:00:00Z" />
    </inbound>
    <backend>
        <forward-request timeout="60" />
    </backend>
</policies>`);
    expect(plan.warnings.filter((w) => w.kind === 'ignored')).toEqual([]);
  });

  test('require-scheme with query-parameter-name or token-value is said to be not run', async () => {
    for (const source of [
      'query-parameter-name="access_token"',
      'token-value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Jwt&quot;,&quot;&quot;))"',
    ]) {
      const plan = await load(`<policies><inbound>
        <validate-jwt ${source} require-scheme="Bearer">
            <issuer-signing-keys><key>${KEY}</key></issuer-signing-keys>
            <issuers><issuer>https://issuer.example/</issuer></issuers>
        </validate-jwt>
    </inbound></policies>`);
      expect(
        plan.warnings.map((w) => w.path),
        source,
      ).toContain('/policies/inbound/validate-jwt[1]/@require-scheme');
    }
  });
});

describe('return-response in a choose', () => {
  const choose = (status: string, header = '') => `<policies><inbound>
    <validate-jwt header-name="Authorization" output-token-variable-name="jwt">
      <issuer-signing-keys><key>${KEY}</key></issuer-signing-keys>
    </validate-jwt>
    <choose><when condition="@(!((Jwt)context.Variables[&quot;jwt&quot;]).Claims[&quot;group&quot;].Contains(&quot;finance&quot;))">
      <return-response>${status}${header}</return-response>
    </when></choose>
  </inbound></policies>`;

  test('the sample\'s reason="Forbidden" is the standard phrase: quiet; another phrase and unread attributes are warnings', async () => {
    const quiet = await load(choose('<set-status code="403" reason="Forbidden" />'));
    expect(paths(quiet, 'ignored').filter((p) => p.includes('choose'))).toEqual([]);
    const loud = await load(
      choose(
        '<set-status code="403" reason="Go away" colour="red" />',
        '<set-header name="X-Why" exists-action="override" tone="low"><value>finance</value></set-header>',
      ),
    );
    expect(
      paths(loud, 'ignored')
        .filter((p) => p.includes('choose'))
        .sort(),
    ).toEqual([
      '/policies/inbound/choose[1]/when[1]/return-response[1]/set-header[1]/@tone',
      '/policies/inbound/choose[1]/when[1]/return-response[1]/set-status[1]/@colour',
      '/policies/inbound/choose[1]/when[1]/return-response[1]/set-status[1]/@reason',
    ]);
  });
});
