import { sessionMachine } from '../../machines/session';
import type { HubConfig } from '../config';
import { machineConfigJson } from '../core/inspection';
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE } from './dashboard-page';

/**
 * The operator dashboard: one self-contained HTML page (no CDN, no build
 * step) that draws what /inspect streams and what /metrics counts. The
 * session machine's definition is embedded, so the state chart is drawn
 * from the same machine the hub runs.
 */

/** JSON inside a <script> element: "<" escaped so no value can close the element. */
const embed = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

const nonce = (): string => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));

/** Inline code runs only with this response's nonce; the page talks to its own origin only. */
const headers = (n: string): Record<string, string> => ({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': `default-src 'none'; script-src 'nonce-${n}'; style-src 'nonce-${n}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
});

export const loginPage = (status: number, problem?: string): Response => {
  const n = nonce();
  const message = problem ? `<p class="problem">${problem.replace(/[<>&]/g, '')}</p>` : '';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signal Hub · sign in</title>
<style nonce="${n}">body{font:15px system-ui,sans-serif;margin:15vh auto;max-width:22rem}input,button{font:inherit;padding:.4rem}input{width:100%;box-sizing:border-box}.problem{color:#b00}</style>
</head><body><h1>Signal Hub</h1>
<form method="post" action="/dashboard"><label for="token">Operator token</label>
<p><input id="token" name="token" type="password" autocomplete="current-password" required></p>
<button id="sign-in" type="submit">Sign in</button></form>${message}</body></html>`;
  return new Response(html, { status, headers: headers(n) });
};

export const dashboardPage = (config: HubConfig): Response => {
  const n = nonce();
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signal Hub · dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${n}">${DASHBOARD_STYLE}</style>
</head><body data-inspect="off">
<header><h1>Signal Hub</h1>
<label>hub <select id="hub"></select></label>
<span id="status">starting</span></header>
<section id="gauges" class="gauges"></section>
<section class="charts">
  <figure><figcaption>frames in /s</figcaption><svg id="chart-frames" class="chart" viewBox="0 0 300 60"></svg></figure>
  <figure><figcaption>deliveries /s</figcaption><svg id="chart-deliveries" class="chart" viewBox="0 0 300 60"></svg></figure>
  <figure><figcaption>error replies /s</figcaption><svg id="chart-errors" class="chart" viewBox="0 0 300 60"></svg></figure>
</section>
<section><h2>Sessions <span id="session-count"></span></h2><p id="inspect-note" class="note"></p><div id="sessions"></div></section>
<section class="tables">
  <div><h2>Registry</h2><table id="registry"><thead><tr><th>address</th><th>capabilities</th></tr></thead><tbody></tbody></table></div>
  <div><h2>Topics</h2><table id="topics"><thead><tr><th>topic</th><th>subscribers</th></tr></thead><tbody></tbody></table></div>
</section>
<script type="application/json" id="machine">${machineConfigJson(sessionMachine).replace(/</g, "\\u003c")}</script>
<script type="application/json" id="settings">${embed({ inspectEnabled: config.inspectEnabled })}</script>
<script nonce="${n}">${DASHBOARD_SCRIPT}</script>
</body></html>`;
  return new Response(html, { headers: headers(n) });
};
