import { Option, type Command } from 'commander';
import {
  addClientOptions,
  addCommonOptions,
  collect,
  nonNegativeInteger,
  positiveNumber,
  type CommandHost,
} from './host.js';

interface DataArg {
  kind: 'data' | 'binary' | 'raw' | 'json';
  value: string;
  seq: number;
}

/** The default of --max-redirs (src/core/call/redirect.ts DEFAULT_MAX_REDIRECTS; kept here so --help loads nothing). */
const MAX_REDIRS = 20;

export function register(program: Command, host: CommandHost): void {
  let seq = 0;
  const data =
    (kind: DataArg['kind']) =>
    (value: string, previous: DataArg[] = []): DataArg[] => [
      ...previous,
      { kind, value, seq: seq++ },
    ];
  const cmd = program
    .command('call')
    .description('curl with the bearer token attached, and a diagnosis on 401/403')
    .argument('<url>', 'the URL to call (http:// is assumed when no scheme is given)')
    .option('-X, --request <method>', 'HTTP method (default GET, or POST with a body)')
    .option(
      '-H, --header <line>',
      'header "Name: value" (repeatable); "Name:" removes a default, "Name;" sends it empty',
      collect,
      [],
    )
    .option(
      '-d, --data <data>',
      'body, form-encoded by default; @FILE or @- (stdin), CR/LF removed (repeatable, joined with &)',
      data('data'),
      [],
    )
    .option(
      '--data-binary <data>',
      'body as is; @FILE or @- (stdin) keep every byte (repeatable)',
      data('binary'),
      [],
    )
    .option('--data-raw <data>', 'body text, @ not special (repeatable)', data('raw'), [])
    .option(
      '--json <body>',
      'JSON body (@FILE, @- for stdin): Content-Type and Accept application/json, POST',
      data('json'),
      [],
    )
    .option('-i, --include', 'put the status line and response headers before the body')
    .option('-o, --output <file>', 'write the body to FILE instead of stdout ("-" is stdout)')
    .option('-s, --silent', 'no progress bar, summary or diagnosis on stderr')
    .option('-f, --fail', 'exit 22 on HTTP 400 or more, without writing the body')
    .option('--fail-with-body', 'exit 22 on HTTP 400 or more, after writing the body')
    .option('-L, --location', 'follow redirects (the token never goes to another origin)')
    .addOption(
      new Option('--max-redirs <n>', 'most redirects followed with -L')
        .default(MAX_REDIRS)
        .argParser(nonNegativeInteger('--max-redirs')),
    )
    .addOption(
      new Option('--max-time <seconds>', 'give up on the call after this long (exit 3)').argParser(
        positiveNumber('--max-time'),
      ),
    )
    .option('-k, --insecure', 'do not check the TLS certificate (warns)')
    .option('--token <token>', 'send this token (also OIDC_GW_TOKEN)')
    .option(
      '--client-credentials',
      'send a client-credentials token (cached, as `token --client-credentials`)',
    )
    .option('--id-token', "send the cached login's ID token instead of its access token")
    .option('--no-auth', 'send no token');
  addClientOptions(cmd);
  addCommonOptions(cmd, {
    json: false,
    timeout: {
      default: 30,
      description:
        'seconds to connect, to wait for the response headers and between body chunks, and for IdP requests (the whole call: --max-time)',
    },
  });
  cmd.addHelpText(
    'after',
    `
The token, first that applies: an Authorization header given with -H (sent as
is); --token; OIDC_GW_TOKEN; --client-credentials; the profile's cached login
(refreshed when needed; --id-token sends its ID token); else the last
client-credentials token. --no-auth sends none.

On 401/403 a diagnosis goes to stderr. A cached login token is refreshed and
the request retried once on a 401. Exit: 0 for any HTTP response (22 with
--fail on 400+), 2 usage, 3 network or --max-time, 1 no token.

Examples:
  oidc-gw call https://api.example.com/orders
  oidc-gw call -X POST --json '{"qty": 1}' https://api.example.com/orders
  oidc-gw call --client-credentials --audience https://api.example.com/ https://api.example.com/
  oidc-gw call -sf -o report.pdf https://api.example.com/report
  echo 'a=1' | oidc-gw call -d @- http://127.0.0.1:8080/form`,
  );
  host.action(cmd, async (ctx, args, opts) => {
    const url = args[0];
    if (typeof url !== 'string' || url === '') {
      const { GwError } = await import('../core/errors/index.js');
      throw new GwError('ERR_USAGE', 'call needs a URL');
    }
    const str = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
    const list = <T>(k: string) => (Array.isArray(opts[k]) ? (opts[k] as T[]) : []);
    const { runCall } = await import('../services/call.js');
    return runCall(ctx, {
      url,
      method: str('request'),
      headers: list<string>('header'),
      data: [
        ...list<DataArg>('data'),
        ...list<DataArg>('dataBinary'),
        ...list<DataArg>('dataRaw'),
        ...list<DataArg>('json'),
      ],
      include: opts['include'] === true,
      output: str('output'),
      silent: opts['silent'] === true,
      fail: opts['fail'] === true,
      failWithBody: opts['failWithBody'] === true,
      location: opts['location'] === true,
      maxRedirs: typeof opts['maxRedirs'] === 'number' ? opts['maxRedirs'] : MAX_REDIRS,
      maxTime: typeof opts['maxTime'] === 'number' ? opts['maxTime'] : undefined,
      insecure: opts['insecure'] === true,
      token: str('token'),
      clientCredentials: opts['clientCredentials'] === true,
      idToken: opts['idToken'] === true,
      noAuth: opts['auth'] === false,
      settingsOpts: opts,
    });
  });
}
