/**
 * @module
 * The login form the dashboard shows a visitor without a session: served by the worker itself
 * (no asset, nothing to fetch), light and dark, in a `main` landmark, and no wider than a 390 px
 * phone (the card's padding counts in its width).
 */

const escape = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

export function loginPage(action: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Edgeway dashboard: sign in</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1c1f24}
main{min-height:100vh;display:grid;place-items:center;padding:1rem;box-sizing:border-box}
form{background:#fff;padding:clamp(1rem,6vw,2rem);border-radius:12px;box-shadow:0 2px 12px #0002;width:100%;max-width:22rem;box-sizing:border-box}
h1{font-size:1.25rem;margin:0 0 1rem}label{display:block;margin-bottom:.25rem}
input,button{font:inherit;width:100%;box-sizing:border-box;padding:.6rem;border-radius:8px;border:1px solid #9aa3ad}
button{margin-top:1rem;background:#2563eb;color:#fff;border:0;cursor:pointer}
.error{color:#b91c1c;margin:0 0 1rem}
@media (prefers-color-scheme:dark){body{background:#111418;color:#e6e8eb}form{background:#1b1f25;box-shadow:none}input{background:#111418;color:inherit}.error{color:#f87171}}
</style></head><body><main>
<form method="post" action="${escape(action)}" id="login">
<h1>Edgeway dashboard</h1>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form></main></body></html>`
}
