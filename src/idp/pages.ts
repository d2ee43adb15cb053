/**
 * The dev IdP's HTML pages: small, styled and self-contained (no external
 * resource: no font, no script, no image), served with a strict
 * Content-Security-Policy that allows only the one inline stylesheet.
 */
import { createHash } from 'node:crypto';
import { escapeHtml } from '../output/html.js';

const STYLE = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--fg:#1d2129;--muted:#5f6b7a;--line:#d5d9e0;--accent:#2f5bd3;--accent-fg:#fff;--err-bg:#fdecec;--err-fg:#a4161a}
@media (prefers-color-scheme:dark){:root{--bg:#15181d;--card:#1f242b;--fg:#e7eaee;--muted:#9aa4b1;--line:#353c46;--accent:#5b82f0;--err-bg:#3b1d1f;--err-fg:#ffb4b4}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:360px;margin:24px;padding:28px 28px 20px;background:var(--card);border:1px solid var(--line);border-radius:10px;box-shadow:0 4px 18px rgba(0,0,0,.08)}
h1{margin:0 0 4px;font-size:1.35rem;font-weight:600}
p{margin:0 0 16px;color:var(--muted)}
label{display:block;margin:12px 0 4px;font-size:.9rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:10px 12px;font:inherit;color:var(--fg);background:var(--card);border:1px solid var(--line);border-radius:6px}
input:focus{outline:2px solid var(--accent);outline-offset:1px}
button,input[type=submit]{font:inherit;cursor:pointer}
button{width:100%;margin-top:20px;padding:10px 12px;font-weight:600;color:var(--accent-fg);background:var(--accent);border:0;border-radius:6px}
.secondary{display:block;width:100%;margin-top:8px;padding:6px;color:var(--muted);background:none;border:0;text-decoration:underline}
.error{margin:12px 0 0;padding:10px 12px;color:var(--err-fg);background:var(--err-bg);border-radius:6px}
.code{font:600 1.6rem/1.2 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;letter-spacing:.12em;text-align:center;color:var(--fg)}
footer{margin-top:20px;font-size:.8rem;color:var(--muted);text-align:center}
dl{margin:0;font-size:.9rem}dt{font-weight:600}dd{margin:0 0 8px;color:var(--muted);word-break:break-word}
`.trim();

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** The Content-Security-Policy of every page here. */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers to send with every page here. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': PAGE_CSP,
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};

export { escapeHtml };

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · oidc-gw dev IdP</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
<footer>oidc-gw development IdP — not for production</footer>
</main>
</body>
</html>
`;
}

export interface SignInPage {
  /** Where the form posts. */
  action: string;
  /** Where the cancel button posts. */
  abortAction: string;
  clientName: string;
  issuer: string;
  /** Shown above the form, e.g. after a wrong password. */
  error?: string | undefined;
  /** Put back in the username field after an error. */
  username?: string | undefined;
}

/** The sign-in form: username, password, one submit button. */
export function signInPage(page: SignInPage): string {
  const error = page.error
    ? `<p class="error" role="alert" id="error">${escapeHtml(page.error)}</p>`
    : '';
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p>to <strong>${escapeHtml(page.clientName)}</strong> at ${escapeHtml(page.issuer)}</p>
${error}
<form method="post" action="${escapeHtml(page.action)}" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required${page.username ? ` value="${escapeHtml(page.username)}"` : ' autofocus'}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${page.username ? ' autofocus' : ''}>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(page.abortAction)}">
<input class="secondary" type="submit" value="Cancel">
</form>`,
  );
}

/** A page that only says something (errors, outcomes). */
export function messagePage(
  title: string,
  message: string,
  details?: Record<string, string>,
): string {
  const dl = details
    ? `<dl>${Object.entries(details)
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
        .join('')}</dl>`
    : '';
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>\n${dl}`);
}

/**
 * Device flow, step 1: the user types the code shown on the device.
 * `form` is oidc-provider's form (id `op.deviceInputForm`) with its CSRF token.
 */
export function deviceInputPage(form: string, message: string, isError: boolean): string {
  return layout(
    'Device sign-in',
    `<h1>Device sign-in</h1>
${isError ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : `<p>${escapeHtml(message)}</p>`}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

/** Device flow, step 2: confirm the code; `form` has id `op.deviceConfirmForm`. */
export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return layout(
    'Confirm device',
    `<h1>Confirm device</h1>
<p><strong>${escapeHtml(clientName)}</strong> asks to sign in. Check that the device shows this code:</p>
<p class="code">${escapeHtml(userCode)}</p>
<p>If you did not start this, or the code differs, cancel.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<input class="secondary" type="submit" form="op.deviceConfirmForm" name="abort" value="Cancel">`,
  );
}

export function deviceSuccessPage(clientName: string): string {
  return messagePage(
    'Signed in',
    `The device (${clientName}) is signed in. You can close this tab and go back to it.`,
  );
}

export function logoutPage(form: string, issuer: string): string {
  return layout(
    'Sign out',
    `<h1>Sign out?</h1>
<p>Sign out of the dev IdP at ${escapeHtml(issuer)}.</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<input class="secondary" type="submit" form="op.logoutForm" value="No, stay signed in">`,
  );
}
